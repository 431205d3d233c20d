using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Merging;

/// <summary>
/// The merge of one load's staging rows into an application table, written once for both databases:
/// setup, the transform's columns, one <c>INSERT … SELECT … ON CONFLICT … DO UPDATE</c>, the ledger row, commit.
/// Repeating it gives the same table, so a re-run after a crash needs no clean-up.
/// </summary>
internal static class MergeRunner
{
    public static void Validate(WarehouseMergeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.KeyColumns.Count == 0)
        {
            throw IntakeException.Config($"merge into {request.TargetTable}: the upsert key has no columns");
        }

        foreach (var key in request.KeyColumns.Concat(request.VersionColumn is null ? [] : [request.VersionColumn]))
        {
            if (SqlIdentifier.Problem(key) is { } problem)
            {
                throw SqlIdentifier.Invalid(ErrorKind.Config, "merge key column", key, problem);
            }
        }
    }

    public static async Task<WarehouseMergeResult> RunAsync(IWarehouseSession session, WarehouseMergeRequest request, TimeProvider clock, CancellationToken cancellationToken)
    {
        var staging = TableName.Parse(request.StagingTable);
        var target = TableName.Parse(request.TargetTable);

        // Merges (and their setup DDL) run one at a time per database: "create … if not exists" is not safe
        // against a concurrent twin, and without a version column the order of commits decides the winner.
        await session.LockSchemaChangesAsync(cancellationToken);
        if (!string.IsNullOrWhiteSpace(request.SetupSql))
        {
            await session.ExecuteAsync(request.SetupSql, cancellationToken);
        }

        var stagingShape = await session.DescribeAsync(staging, cancellationToken)
            ?? throw IntakeException.Config($"merge: the staging table {request.StagingTable} does not exist; the load step writes it");
        var loadId = request.LoadId.ToString(CultureInfo.InvariantCulture);
        var transform = request.TransformSql is { } sql
            ? sql.Replace("{staging}", session.Quote(staging), StringComparison.Ordinal).Replace("{load_id}", loadId, StringComparison.Ordinal).Trim().TrimEnd(';')
            : $"select {string.Join(", ", stagingShape.Columns.Select(c => SqlIdentifier.Quote(c.Name)))} from {session.Quote(staging)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId}";

        if (await session.DescribeAsync(target, cancellationToken) is null)
        {
            throw IntakeException.Config($"merge: the target table {request.TargetTable} does not exist; create it (merge.setup can hold its 'create table if not exists')");
        }

        var columns = await session.DescribeQueryAsync(transform, cancellationToken);
        var missingKeys = request.KeyColumns.Where(k => !columns.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        if (missingKeys.Count > 0)
        {
            throw IntakeException.Config($"merge into {request.TargetTable}: the transform does not return the key column(s) {string.Join(", ", missingKeys)} (it returns {string.Join(", ", columns)})");
        }

        if (request.VersionColumn is { } version && !columns.Contains(version, StringComparer.OrdinalIgnoreCase))
        {
            throw IntakeException.Config($"merge into {request.TargetTable}: the transform does not return the version column {version}");
        }

        var quoted = columns.Select(SqlIdentifier.Quote).ToList();
        var updates = columns.Where(c => !request.KeyColumns.Contains(c, StringComparer.OrdinalIgnoreCase))
            .Select(c => $"{SqlIdentifier.Quote(c)} = excluded.{SqlIdentifier.Quote(c)}").ToList();
        // "where true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join syntax.
        var merge = $"""
            insert into {session.Quote(target)} ({string.Join(", ", quoted)})
            select {string.Join(", ", quoted)} from ({transform}) as t where true
            on conflict ({string.Join(", ", request.KeyColumns.Select(SqlIdentifier.Quote))})
            {(updates.Count == 0 ? "do nothing" : "do update set " + string.Join(", ", updates))}
            {(request.VersionColumn is { } v && updates.Count > 0 ? $"where {session.Quote(target)}.{SqlIdentifier.Quote(v)} <= excluded.{SqlIdentifier.Quote(v)}" : "")}
            """;

        // One key twice in one load has no right answer (which row wins?); PostgreSQL refuses it and SQLite would
        // keep the last silently, so both refuse it here, naming the key.
        var keyList = string.Join(", ", request.KeyColumns.Select(SqlIdentifier.Quote));
        var duplicates = await session.DescribeFirstRowAsync(
            $"select {keyList}, count(*) from ({transform}) as t group by {keyList} having count(*) > 1", cancellationToken);
        if (duplicates is not null)
        {
            throw IntakeException.Integrity(
                $"merge into {request.TargetTable}: the key ({string.Join(", ", request.KeyColumns)}) = ({string.Join(", ", duplicates.SkipLast(1))}) occurs {duplicates[^1]} times in load {loadId}; nothing was merged");
        }

        var inStaging = await session.CountLoadRowsAsync(staging, request.LoadId, cancellationToken);
        long keptNewer = 0;
        if (request.VersionColumn is { } versionColumn)
        {
            // Counted before the merge, in the same transaction: the rows the version check will pass over.
            var join = string.Join(" and ", request.KeyColumns.Select(k => $"x.{SqlIdentifier.Quote(k)} = t.{SqlIdentifier.Quote(k)}"));
            var older = await session.DescribeFirstRowAsync(
                $"select count(*) from ({transform}) as t join {session.Quote(target)} as x on {join} where x.{SqlIdentifier.Quote(versionColumn)} > t.{SqlIdentifier.Quote(versionColumn)}",
                cancellationToken);
            keptNewer = long.Parse(older![0]!, CultureInfo.InvariantCulture);
        }

        var merged = await session.ExecuteCountAsync(merge, cancellationToken);
        await session.RecordLedgerAsync(
            new WarehouseLoadRequest { Table = request.TargetTable, LoadId = request.LoadId, Step = request.Step, Attempt = request.Attempt },
            merged,
            clock.GetUtcNow(),
            cancellationToken);
        await session.CommitAsync(cancellationToken);
        return new WarehouseMergeResult(inStaging, merged, keptNewer);
    }
}
