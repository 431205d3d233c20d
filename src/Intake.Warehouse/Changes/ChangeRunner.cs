using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse.Changes;

/// <summary>
/// Applies a change load to a current-state table, written once for both databases. Everything happens in the
/// session's one transaction, under the schema lock (so two appliers of the same target take turns): the generation
/// check, a rebuild from the starting rows when the target holds another generation, the change rows, the record of
/// the applied load (<c>&lt;target&gt;__applied</c>) and the ledger row. A crash anywhere leaves the target as it was.
/// </summary>
/// <remarks>
/// Order of change loads does not matter: per key, the change with the greatest sequence decides (an update never
/// overwrites a row of a greater sequence; a delete removes only a row of a smaller one and leaves a tombstone with its
/// sequence, which an older insert or update cannot pass). So the result equals applying every change in sequence
/// order, whatever order the loads arrive or are re-driven in.
/// </remarks>
internal static class ChangeRunner
{
    /// <summary>The target's column holding the sequence of the change that wrote the row ('' for starting rows).</summary>
    public const string SequenceColumn = "_intake_change_seq";

    /// <summary>The <c>__applied</c> row that names the generation the target was built from.</summary>
    private const long GenerationRow = -1;

    public static void Validate(WarehouseChangeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Generation);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Step);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Attempt, 1);
        _ = TableName.Parse(request.Target);
        _ = TableName.Parse(request.BaseTable);
        if (request.ChangeTable is { } change)
        {
            _ = TableName.Parse(change);
        }

        if (request.KeyColumns.Count == 0)
        {
            throw IntakeException.Config($"current-state table {request.Target}: the key has no columns");
        }

        foreach (var column in request.KeyColumns.Concat([request.SequenceColumn, request.OperationColumn]).Concat(request.ExcludedColumns))
        {
            if (SqlIdentifier.Problem(column) is { } problem)
            {
                throw SqlIdentifier.Invalid(ErrorKind.Config, "The change column", column, problem);
            }
        }
    }

    public static async Task<WarehouseChangeResult> RunAsync(IWarehouseSession session, WarehouseChangeRequest request, TimeProvider clock, CancellationToken cancellationToken)
    {
        var target = TableName.Parse(request.Target);
        var deleted = target with { Name = target.Name + "__deleted" };
        var applied = target with { Name = target.Name + "__applied" };
        var baseTable = TableName.Parse(request.BaseTable);
        await session.LockSchemaChangesAsync(cancellationToken);

        var baseShape = await session.DescribeAsync(baseTable, cancellationToken)
            ?? throw IntakeException.Integrity($"current-state table {request.Target}: its starting rows' table {request.BaseTable} does not exist yet; the load step writes it");
        var excluded = new HashSet<string>(request.ExcludedColumns.Append(SqlIdentifier.LoadIdColumn), StringComparer.OrdinalIgnoreCase);
        var columns = baseShape.Columns.Select(c => c.Name).Where(c => !excluded.Contains(c)).ToList();
        var missingKeys = request.KeyColumns.Where(k => !columns.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        if (missingKeys.Count > 0)
        {
            throw IntakeException.Config($"current-state table {request.Target}: the key column(s) {string.Join(", ", missingKeys)} are not in {request.BaseTable} (it has {string.Join(", ", columns)})");
        }

        var q = Quoter(session);
        var keys = request.KeyColumns.Select(SqlIdentifier.Quote).ToList();
        var seq = SqlIdentifier.Quote(SequenceColumn);
        await EnsureTablesAsync(session, request, target, deleted, applied, columns, cancellationToken);

        var current = await session.DescribeFirstRowAsync($"select generation from {q(applied)} where load_id = {GenerationRow}", cancellationToken);
        var currentGeneration = current?[0];
        if (currentGeneration is not null && string.CompareOrdinal(currentGeneration, request.Generation) > 0)
        {
            return await FinishAsync(session, request, clock, new WarehouseChangeResult(ChangeOutcome.Superseded, false, 0), cancellationToken);
        }

        var rebuilt = false;
        if (currentGeneration != request.Generation)
        {
            // A new generation (a new snapshot): the target starts again from its rows, and every tombstone and
            // applied change of the previous generation goes with it.
            await session.ExecuteAsync($"delete from {q(target)}", cancellationToken);
            await session.ExecuteAsync($"delete from {q(deleted)}", cancellationToken);
            await session.ExecuteAsync($"delete from {q(applied)}", cancellationToken);
            var ids = request.BaseLoadIds.Count == 0 ? "null" : string.Join(", ", request.BaseLoadIds.Select(i => i.ToString(CultureInfo.InvariantCulture)));
            var list = string.Join(", ", columns.Select(SqlIdentifier.Quote));
            // "where true" keeps SQLite from reading ON CONFLICT as part of the SELECT; a key twice in the starting
            // rows keeps its first row.
            await session.ExecuteAsync($"""
                insert into {q(target)} ({list}, {seq})
                select {list}, '' from {q(baseTable)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} in ({ids}) and true
                on conflict ({string.Join(", ", keys)}) do nothing
                """, cancellationToken);
            await session.ExecuteAsync($"insert into {q(applied)} (generation, load_id) values ({Literal(request.Generation)}, {GenerationRow})", cancellationToken);
            rebuilt = true;
        }

        if (request.ChangeTable is not { } changeName)
        {
            return await FinishAsync(session, request, clock, new WarehouseChangeResult(ChangeOutcome.Built, rebuilt, 0), cancellationToken);
        }

        var loadId = request.LoadId.ToString(CultureInfo.InvariantCulture);
        if (await session.DescribeFirstRowAsync($"select 1 from {q(applied)} where load_id = {loadId}", cancellationToken) is not null)
        {
            return await FinishAsync(session, request, clock, new WarehouseChangeResult(ChangeOutcome.AlreadyApplied, rebuilt, 0), cancellationToken);
        }

        var change = TableName.Parse(changeName);
        var changeShape = await session.DescribeAsync(change, cancellationToken)
            ?? throw IntakeException.Integrity($"current-state table {request.Target}: the change table {changeName} does not exist; the load step writes it");
        var changeColumns = changeShape.Columns.Select(c => c.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var lacking = columns.Append(request.SequenceColumn).Append(request.OperationColumn).Where(c => !changeColumns.Contains(c)).ToList();
        if (lacking.Count > 0)
        {
            throw IntakeException.Schema($"current-state table {request.Target}: the change table {changeName} lacks the column(s) {string.Join(", ", lacking)}");
        }

        var data = string.Join(", ", columns.Select(SqlIdentifier.Quote));
        var op = SqlIdentifier.Quote(request.OperationColumn);
        var changeSeq = $"cast({SqlIdentifier.Quote(request.SequenceColumn)} as text)";
        var upserts = string.Join(", ", request.UpsertOperations.Select(Literal));
        var deletes = string.Join(", ", request.DeleteOperations.Select(Literal));
        // Per key, the change of this load with the greatest sequence; other operations (before-images) are left out.
        var latest = $"""
            (select {data}, _seq, _op from (
                select {data}, {changeSeq} as _seq, {op} as _op,
                       row_number() over (partition by {string.Join(", ", keys)} order by {changeSeq} desc) as _rn
                from {q(change)}
                where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId} and {op} in ({upserts}, {deletes})) as r
             where _rn = 1)
            """;
        string Match(string left, string right) => string.Join(" and ", keys.Select(k => $"{left}.{k} = {right}.{k}"));

        long changed = 0;
        changed += await session.ExecuteCountAsync($"""
            delete from {q(target)} where exists (
                select 1 from {latest} as c where c._op in ({deletes}) and {Match("c", q(target))} and c._seq > {q(target)}.{seq})
            """, cancellationToken);
        await session.ExecuteAsync($"""
            insert into {q(deleted)} ({string.Join(", ", keys)}, {seq})
            select {string.Join(", ", keys)}, _seq from {latest} as c where c._op in ({deletes})
            on conflict ({string.Join(", ", keys)}) do update set {seq} = excluded.{seq} where {q(deleted)}.{seq} < excluded.{seq}
            """, cancellationToken);
        var updates = columns.Where(c => !request.KeyColumns.Contains(c, StringComparer.OrdinalIgnoreCase))
            .Select(c => $"{SqlIdentifier.Quote(c)} = excluded.{SqlIdentifier.Quote(c)}")
            .Append($"{seq} = excluded.{seq}");
        changed += await session.ExecuteCountAsync($"""
            insert into {q(target)} ({data}, {seq})
            select {data}, _seq from {latest} as c
            where c._op in ({upserts}) and not exists (select 1 from {q(deleted)} as d where {Match("d", "c")} and d.{seq} >= c._seq)
            on conflict ({string.Join(", ", keys)}) do update set {string.Join(", ", updates)} where {q(target)}.{seq} < excluded.{seq}
            """, cancellationToken);
        await session.ExecuteAsync($"insert into {q(applied)} (generation, load_id) values ({Literal(request.Generation)}, {loadId})", cancellationToken);
        return await FinishAsync(session, request, clock, new WarehouseChangeResult(ChangeOutcome.Applied, rebuilt, changed), cancellationToken);
    }

    private static async Task EnsureTablesAsync(
        IWarehouseSession session, WarehouseChangeRequest request, TableName target, TableName deleted, TableName applied, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        var q = Quoter(session);
        var baseTable = q(TableName.Parse(request.BaseTable));
        var keys = string.Join(", ", request.KeyColumns.Select(SqlIdentifier.Quote));
        var seq = SqlIdentifier.Quote(SequenceColumn);
        if (await session.DescribeAsync(target, cancellationToken) is null)
        {
            // The base table's columns and types, without its rows.
            await session.ExecuteAsync($"create table {q(target)} as select {string.Join(", ", columns.Select(SqlIdentifier.Quote))} from {baseTable} where 1 = 0", cancellationToken);
            await session.ExecuteAsync($"alter table {q(target)} add column {seq} text", cancellationToken);
            await session.ExecuteAsync($"create unique index {SqlIdentifier.Quote(target.Name + "__key")} on {q(target)} ({keys})", cancellationToken);
        }

        if (await session.DescribeAsync(deleted, cancellationToken) is null)
        {
            await session.ExecuteAsync($"create table {q(deleted)} as select {keys} from {baseTable} where 1 = 0", cancellationToken);
            await session.ExecuteAsync($"alter table {q(deleted)} add column {seq} text", cancellationToken);
            await session.ExecuteAsync($"create unique index {SqlIdentifier.Quote(deleted.Name + "__key")} on {q(deleted)} ({keys})", cancellationToken);
        }

        await session.ExecuteAsync($"create table if not exists {q(applied)} (generation text not null, load_id bigint not null, primary key (load_id))", cancellationToken);
    }

    private static async Task<WarehouseChangeResult> FinishAsync(IWarehouseSession session, WarehouseChangeRequest request, TimeProvider clock, WarehouseChangeResult result, CancellationToken cancellationToken)
    {
        await session.RecordLedgerAsync(
            new WarehouseLoadRequest { Table = request.Target, LoadId = request.LoadId, Step = request.Step, Attempt = request.Attempt },
            result.RowsChanged,
            clock.GetUtcNow(),
            cancellationToken);
        await session.CommitAsync(cancellationToken);
        return result;
    }

    private static Func<TableName, string> Quoter(IWarehouseSession session) => session.Quote;

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}
