using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// One load's rows into several tables (a parsing module's output) in the session's one transaction, written once for
/// both databases: each table as <see cref="LoadRunner"/> writes it, then, for an upsert table, the newest load per key
/// kept; a ledger row per table; one commit. A failure anywhere rolls every table back.
/// </summary>
internal static class TablesRunner
{
    public static void Validate(WarehouseTablesRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Tables);
        if (request.Tables.Count == 0)
        {
            throw new ArgumentException("The request names no table.", nameof(request));
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var write in request.Tables)
        {
            ArgumentNullException.ThrowIfNull(write.Sources);
            LoadRunner.Validate(AsLoad(request, write));
            if (!seen.Add(TableName.Parse(write.Table).ToString()))
            {
                throw IntakeException.Config($"The table '{write.Table}' is written twice by one load; write each table once.");
            }

            if (write.Mode == TableWriteMode.Upsert && write.Key.Count == 0)
            {
                throw IntakeException.Config($"Table '{write.Table}': an upsert needs the key columns that identify a row.");
            }

            if (write.Mode == TableWriteMode.Append && write.Key.Count > 0)
            {
                throw IntakeException.Config($"Table '{write.Table}': a key is only used by an upsert; remove it, or write the table in upsert mode.");
            }

            foreach (var key in write.Key)
            {
                if (SqlIdentifier.Problem(key) is { } problem)
                {
                    throw SqlIdentifier.Invalid(ErrorKind.Config, $"Table '{write.Table}': the key column", key ?? "", problem);
                }
            }
        }
    }

    /// <param name="current">Told the table being written, so a database error can name it.</param>
    public static async Task<IReadOnlyList<WarehouseTableResult>> RunAsync(
        IWarehouseSession session, WarehouseTablesRequest request, TimeProvider clock, Action<string> current, CancellationToken cancellationToken)
    {
        var results = new List<WarehouseTableResult>(request.Tables.Count);
        foreach (var write in request.Tables)
        {
            current(write.Table);
            var load = AsLoad(request, write);
            var written = await LoadRunner.WriteAsync(session, load, write.Sources, clock, cancellationToken);
            long replaced = 0, keptNewer = 0;
            if (write.Mode == TableWriteMode.Upsert)
            {
                (replaced, keptNewer) = await UpsertAsync(session, write, request.LoadId, cancellationToken);
            }

            var kept = written.RowsWritten - keptNewer;
            await session.RecordLedgerAsync(load, kept, clock.GetUtcNow(), cancellationToken);
            results.Add(new WarehouseTableResult(write.Table, written.RowsRead, kept, written.RowsDeletedFromEarlierAttempts, replaced, keptNewer));
        }

        await session.CommitAsync(cancellationToken);
        return results;
    }

    /// <summary>
    /// The load's rows are in the table already (tagged with its id); per key the newest load's rows stay. Load ids are
    /// handed out in the order loads are registered, so "newer" is "greater id": an old load re-driven after a newer
    /// one loses to it, and a re-delivered report (a new load) replaces the old one's rows.
    /// </summary>
    private static async Task<(long Replaced, long KeptNewer)> UpsertAsync(IWarehouseSession session, WarehouseTableWrite write, long loadId, CancellationToken cancellationToken)
    {
        var table = TableName.Parse(write.Table);
        // Upserts into a database run one at a time: two loads with the same key, each blind to the other's
        // uncommitted rows, would otherwise both keep theirs. Held until the commit; the statements below then see the
        // other's committed rows (PostgreSQL reads committed data per statement; SQLite has one writer anyway).
        await session.LockSchemaChangesAsync(cancellationToken);
        var shape = await session.DescribeAsync(table, cancellationToken);
        if (shape is null)
        {
            return (0, 0); // no source, no table: nothing to keep or replace
        }

        var keys = new List<string>();
        var missing = new List<string>();
        foreach (var key in write.Key)
        {
            if (shape.Columns.FirstOrDefault(c => string.Equals(c.Name, key, StringComparison.OrdinalIgnoreCase)) is { } column)
            {
                keys.Add(column.Name);
            }
            else
            {
                missing.Add(key);
            }
        }

        if (missing.Count > 0)
        {
            throw IntakeException.Schema(
                $"Table '{write.Table}' has no key column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} for the upsert (it has {string.Join(", ", shape.Columns.Select(c => c.Name))}); make the rows carry them or fix the key.");
        }

        var q = session.Quote(table);
        var lid = SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn);
        var id = loadId.ToString(CultureInfo.InvariantCulture);
        var quoted = keys.Select(SqlIdentifier.Quote).ToList();
        var keyList = string.Join(", ", quoted);

        var empty = await session.DescribeFirstRowAsync(
            $"select count(*) from {q} where {lid} = {id} and ({string.Join(" or ", quoted.Select(k => k + " is null"))})", cancellationToken);
        if (empty is not null && empty[0] is not (null or "0"))
        {
            throw IntakeException.Integrity(
                $"Table '{write.Table}': {empty[0]} row(s) of load {id} have an empty value in the upsert key ({string.Join(", ", keys)}); a row without its key cannot replace another. Nothing was written.");
        }

        var duplicate = await session.DescribeFirstRowAsync(
            $"select {keyList}, count(*) from {q} where {lid} = {id} group by {keyList} having count(*) > 1", cancellationToken);
        if (duplicate is not null)
        {
            throw IntakeException.Integrity(
                $"Table '{write.Table}': the key ({string.Join(", ", keys)}) = ({string.Join(", ", duplicate.SkipLast(1))}) occurs {duplicate[^1]} times in load {id}; an upsert needs one row per key. Nothing was written.");
        }

        var same = string.Join(" and ", quoted.Select(k => $"n.{k} = o.{k}"));
        var keptNewer = await session.ExecuteCountAsync(
            $"delete from {q} as o where o.{lid} = {id} and exists (select 1 from {q} as n where n.{lid} > {id} and {same})", cancellationToken);
        var replaced = await session.ExecuteCountAsync(
            $"delete from {q} as o where o.{lid} < {id} and exists (select 1 from {q} as n where n.{lid} = {id} and {same})", cancellationToken);
        return (replaced, keptNewer);
    }

    private static WarehouseLoadRequest AsLoad(WarehouseTablesRequest request, WarehouseTableWrite write) => new()
    {
        Table = write.Table,
        Columns = write.Columns,
        LoadId = request.LoadId,
        Step = request.Step,
        Attempt = request.Attempt,
        Constants = write.Constants,
    };
}
