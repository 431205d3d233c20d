using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// The load algorithm both warehouses share: resolve the target columns, create the table when missing,
/// delete the load's earlier rows, copy every source, record the ledger row, commit. All of it happens in
/// the session's one transaction, so a load is either entirely there (with its ledger row) or not at all.
/// </summary>
internal static class LoadRunner
{
    public static void Validate(WarehouseLoadRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Step);
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Attempt, 1);
        _ = TableName.Parse(request.Table);
        if (request.Columns is { } columns)
        {
            ValidateDeclared(columns);
        }

        foreach (var constant in request.Constants)
        {
            if (SqlIdentifier.Problem(constant.Name) is { } problem)
            {
                throw SqlIdentifier.Invalid(ErrorKind.Config, "The constant column", constant.Name ?? "", problem);
            }

            if (request.Columns?.Any(c => string.Equals(c.Name, constant.Name, StringComparison.OrdinalIgnoreCase)) == true)
            {
                throw IntakeException.Config($"The column '{constant.Name}' is both declared and written with one value for the whole load; remove it from the declared columns.");
            }
        }

        foreach (var name in request.ReplaceWhere)
        {
            if (!request.Constants.Any(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase)))
            {
                throw new ArgumentException($"The load replaces by the column '{name}', which is not one of its constant columns.", nameof(request));
            }
        }
    }

    /// <summary>The constants a replacing load's partition is made of, and the partition as text (<c>day=2022-03-04</c>).</summary>
    private static (IReadOnlyList<ConstantColumn> Where, string Key)? Partition(WarehouseLoadRequest request)
    {
        if (request.ReplaceWhere.Count == 0)
        {
            return null;
        }

        var where = request.Constants
            .Where(c => request.ReplaceWhere.Contains(c.Name, StringComparer.OrdinalIgnoreCase))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return (where, string.Join('/', where.Select(c => $"{c.Name}={c.Text}")));
    }

    public static async Task<WarehouseLoadResult> RunAsync(
        IWarehouseSession session, WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, TimeProvider clock, CancellationToken cancellationToken)
    {
        var result = await WriteAsync(session, request, sources, clock, cancellationToken);
        await session.RecordLedgerAsync(request, result.RowsWritten, clock.GetUtcNow(), cancellationToken);
        await session.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>
    /// The load's rows into one table in the session's transaction, without the ledger row or the commit: resolve the
    /// columns, create the table when missing, delete the load's earlier rows, copy every source, set the constants.
    /// </summary>
    public static async Task<WarehouseLoadResult> WriteAsync(
        IWarehouseSession session, WarehouseLoadRequest request, IAsyncEnumerable<IRowSource> sources, TimeProvider clock, CancellationToken cancellationToken)
    {
        var table = TableName.Parse(request.Table);
        var declared = request.Columns;

        // Sources may be opened lazily by the enumeration; each is disposed once copied (or on failure).
        await using var enumerator = sources.GetAsyncEnumerator(cancellationToken);
        var current = await enumerator.MoveNextAsync() ? enumerator.Current : null;
        try
        {
            IReadOnlyList<TargetColumn> targets = [];
            var fromHeader = declared is null;
            long deleted = 0;
            if (current is not null)
            {
                CheckConstantsNotInHeader(current, request.Constants);
            }

            var (shape, create, earlier) = await EnsureTableAsync(session, table, request, current, forLoad: true, cancellationToken);
            var created = create is not null;
            if (create is not null)
            {
                targets = [.. create.Select(c => new TargetColumn(c.Name, c.Type, null, c.Nullable, HasDefault: false))];
            }

            if (shape is not null)
            {
                targets = Resolve(table, shape, declared, session.StoresAnyType);
                deleted = earlier ?? await session.DeleteEarlierAttemptAsync(table, request.LoadId, cancellationToken);
            }

            // A partition is replaced whole by its newest load (the greatest id: the order discovery registered the
            // deliveries in). Claiming it locks it until the commit, so loads of one partition never interleave; an
            // older load that comes later (a re-drive) writes its rows and gives them up in the same transaction, so
            // the partition never holds two loads' rows, nor none while the new rows are being copied.
            var partition = Partition(request);
            long? newer = null;
            List<ReplacedRows> replaced = [];
            if (partition is { } p)
            {
                var holder = await session.ClaimPartitionAsync(request.Table, p.Key, request.LoadId, clock.GetUtcNow(), cancellationToken);
                if (holder > request.LoadId)
                {
                    newer = holder;
                }
                else
                {
                    if (shape is not null)
                    {
                        var others = await session.CountOtherLoadsAsync(table, p.Where, request.LoadId, cancellationToken);
                        await session.DeleteOtherLoadsAsync(table, p.Where, request.LoadId, cancellationToken);
                        foreach (var (loadId, rows) in others)
                        {
                            var r = new ReplacedRows(loadId, request.LoadId, p.Key, rows);
                            await session.RecordReplacedAsync(request.Table, r, clock.GetUtcNow(), cancellationToken);
                            replaced.Add(r);
                        }
                    }

                    await session.SetPartitionAsync(request.Table, p.Key, request.LoadId, clock.GetUtcNow(), cancellationToken);
                    await session.ForgetReplacedAsync(request.Table, request.LoadId, cancellationToken);
                }
            }

            var byName = targets.ToDictionary(t => t.Name, StringComparer.OrdinalIgnoreCase);
            long read = 0, written = 0;
            while (current is not null)
            {
                CheckConstantsNotInHeader(current, request.Constants);
                var plan = Plan(table, current, targets, byName, fromHeader);
                var count = await session.CopyAsync(table, plan, current, request.LoadId, cancellationToken);
                read += count.Read;
                written += count.Written;
                var done = current;
                current = null;
                await done.DisposeAsync();
                current = await enumerator.MoveNextAsync() ? enumerator.Current : null;
            }

            await session.SetConstantsAsync(table, request.LoadId, request.Constants, cancellationToken);
            ReplacedRows? superseded = null;
            if (newer is { } by && partition is { } q)
            {
                // Read and written like any load (a broken file still fails), then given up to the newer load's rows.
                if (shape is not null || created)
                {
                    await session.DeleteLoadAsync(table, request.LoadId, cancellationToken);
                }

                superseded = new ReplacedRows(request.LoadId, by, q.Key, written);
                await session.RecordReplacedAsync(request.Table, superseded, clock.GetUtcNow(), cancellationToken);
            }

            if (created)
            {
                // Building the index once over the loaded rows is cheaper than maintaining it row by row;
                // nobody else sees the table before the commit anyway.
                await session.CreateLoadIdIndexAsync(table, cancellationToken);
            }

            var result = new WarehouseLoadResult(read, written, deleted) { Superseded = superseded };
            return replaced.Count > 0 ? result with { Replaced = replaced } : result; // else the shared empty default, so results compare equal
        }
        finally
        {
            if (current is not null)
            {
                await current.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Makes the table's shape ready for a load in a transaction of its own and commits it: creates the table (with its
    /// load id index) when missing and adds missing constant columns, as <see cref="WriteAsync"/> would. For loads that
    /// copy through other connections than the session's (<c>load.streams</c>), which can neither see an uncommitted
    /// table nor write while this transaction holds a changed one. A load that then fails leaves the table, empty.
    /// </summary>
    public static async Task PrepareTableAsync(IWarehouseSession session, WarehouseLoadRequest request, IRowSource? first, CancellationToken cancellationToken)
    {
        var table = TableName.Parse(request.Table);
        if (first is not null)
        {
            CheckConstantsNotInHeader(first, request.Constants);
        }

        var (_, created, _) = await EnsureTableAsync(session, table, request, first, forLoad: false, cancellationToken);
        if (created is not null)
        {
            await session.CreateLoadIdIndexAsync(table, cancellationToken);
        }

        await session.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// The table's shape once it exists with every constant column: created from the declared columns or the first
    /// source's header when missing (then also returned as created), constant columns added when missing. Null when
    /// the table is missing and there is nothing to create it from (no declaration and no source). With
    /// <paramref name="forLoad"/>, the dialect may delete the load's earlier rows along with the first describe
    /// (<see cref="IWarehouseSession.DescribeForLoadAsync"/>): their count, or null when left to the caller.
    /// </summary>
    private static async Task<(TableShape? Shape, IReadOnlyList<ColumnSpec>? Created, long? EarlierRowsDeleted)> EnsureTableAsync(
        IWarehouseSession session, TableName table, WarehouseLoadRequest request, IRowSource? current, bool forLoad, CancellationToken cancellationToken)
    {
        var (shape, earlier) = forLoad
            ? await session.DescribeForLoadAsync(table, request.LoadId, cancellationToken)
            : (await session.DescribeAsync(table, cancellationToken), null);
        IReadOnlyList<ColumnSpec>? created = null;
        if (shape is null)
        {
            var create = request.Columns ?? (current is null ? null : HeaderColumns(current));
            create = create is null ? null : [.. create, .. request.Constants.Select(c => new ColumnSpec(c.Name, c.Type))];
            if (create is not null)
            {
                await session.LockSchemaChangesAsync(cancellationToken);
                shape = await session.DescribeAsync(table, cancellationToken);
                if (shape is null)
                {
                    await session.CreateTableAsync(table, create, cancellationToken);
                    created = create;
                }
            }
        }

        if (shape is not null && request.Constants.Where(c => !shape.Columns.Any(e => string.Equals(e.Name, c.Name, StringComparison.OrdinalIgnoreCase))).ToList() is { Count: > 0 } added)
        {
            await session.LockSchemaChangesAsync(cancellationToken);
            foreach (var constant in added)
            {
                await session.AddColumnAsync(table, new ColumnSpec(constant.Name, constant.Type), cancellationToken);
            }

            shape = await session.DescribeAsync(table, cancellationToken);
        }

        return (shape, created, earlier);
    }

    private static void ValidateDeclared(IReadOnlyList<ColumnSpec> columns)
    {
        if (columns.Count == 0)
        {
            throw IntakeException.Config("The declared column list is empty; declare at least one column, or none to take the source's header.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var column in columns)
        {
            if (SqlIdentifier.Problem(column.Name) is { } problem)
            {
                throw SqlIdentifier.Invalid(ErrorKind.Config, "The declared column", column.Name ?? "", problem);
            }

            if (!seen.Add(column.Name))
            {
                throw IntakeException.Config($"The declared column '{column.Name}' appears twice (names are compared without case).");
            }

            if (!Enum.IsDefined(column.Type))
            {
                throw IntakeException.Config($"The declared column '{column.Name}' has an unknown type {(int)column.Type}.");
            }
        }
    }

    /// <summary>A column the load writes with one value must not come from the file as well: one would overwrite the other.</summary>
    private static void CheckConstantsNotInHeader(IRowSource source, IReadOnlyList<ConstantColumn> constants)
    {
        foreach (var constant in constants)
        {
            if (source.Columns.FirstOrDefault(c => string.Equals(c, constant.Name, StringComparison.OrdinalIgnoreCase)) is { } column)
            {
                throw IntakeException.Schema(
                    $"Source '{source.SourceName}' has a column '{ValueText.Truncate(column)}', which this load also writes with one value for every row " +
                    $"(such as the day of a daily file); give that column another name in the pipeline (for Cubic DMAP files: cubic.dmap.day_column).");
            }
        }
    }

    /// <summary>A new table's columns from the first source's header: nullable text, as a CSV holds them.</summary>
    private static List<ColumnSpec> HeaderColumns(IRowSource source)
    {
        CheckHeader(source);
        return [.. source.Columns.Select(name => new ColumnSpec(name, ColumnType.Text))];
    }

    private static void CheckHeader(IRowSource source)
    {
        if (source.Columns.Count == 0)
        {
            throw IntakeException.Empty($"Source '{source.SourceName}' has no columns.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < source.Columns.Count; i++)
        {
            var name = source.Columns[i];
            if (SqlIdentifier.Problem(name) is { } problem)
            {
                throw SqlIdentifier.Invalid(ErrorKind.Schema, $"Source '{source.SourceName}': header column {i + 1}", name ?? "", problem);
            }

            if (!seen.Add(name))
            {
                throw IntakeException.Schema($"Source '{source.SourceName}': the header has column '{ValueText.Truncate(name)}' twice (names are compared without case).");
            }
        }
    }

    /// <summary>The columns of an existing table that this load writes, with the types values are cast to.</summary>
    internal static List<TargetColumn> Resolve(TableName table, TableShape shape, IReadOnlyList<ColumnSpec>? declared, bool storesAnyType)
    {
        if (!shape.HasLoadIdColumn)
        {
            throw IntakeException.Schema(
                $"Table '{table}' exists but has no {SqlIdentifier.LoadIdColumn} column, so its loads cannot be told apart; load into a table Intake creates.");
        }

        var targets = new List<TargetColumn>();
        if (declared is null)
        {
            foreach (var c in shape.Columns)
            {
                var known = c.Type is not null || storesAnyType;
                targets.Add(new TargetColumn(c.Name, c.Type ?? ColumnType.Text, c.StoreType, c.Nullable, c.HasDefault, known));
            }

            return targets;
        }

        var existing = shape.Columns.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        var conflicts = new List<string>();
        foreach (var d in declared)
        {
            if (!existing.TryGetValue(d.Name, out var c))
            {
                missing.Add(d.Name);
                continue;
            }

            // SQLite stores what it is given, so the declaration decides; PostgreSQL's binary COPY must match
            // the column's type exactly, so a different declaration is refused rather than cast twice.
            if (!storesAnyType && c.Type != d.Type)
            {
                conflicts.Add($"'{c.Name}' is {c.StoreType}, declared {ValueCaster.TypeWord(d.Type)}");
                continue;
            }

            targets.Add(new TargetColumn(c.Name, d.Type, c.StoreType, d.Nullable && c.Nullable, c.HasDefault));
        }

        if (missing.Count > 0)
        {
            throw IntakeException.Schema($"Table '{table}' lacks the declared columns {Names(missing)}; add them to the table or remove them from the declaration.");
        }

        if (conflicts.Count > 0)
        {
            throw IntakeException.Schema($"Table '{table}' has columns of other types than declared: {string.Join("; ", conflicts)}.");
        }

        return targets;
    }

    /// <summary>Maps one source's header onto the target columns; everything that cannot work fails here, before a row is read.</summary>
    internal static CopyPlan Plan(TableName table, IRowSource source, IReadOnlyList<TargetColumn> targets, Dictionary<string, TargetColumn> byName, bool fromHeader)
    {
        CheckHeader(source);
        var columns = new List<TargetColumn>(source.Columns.Count);
        var ordinals = new List<int>(source.Columns.Count);
        var extra = new List<string>();
        var mapped = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < source.Columns.Count; i++)
        {
            var name = source.Columns[i];
            if (!byName.TryGetValue(name, out var target))
            {
                extra.Add(name);
                continue;
            }

            if (!target.Writable)
            {
                throw IntakeException.Schema($"Table '{table}' column '{target.Name}' has type {target.StoreType}, which Intake cannot load into.");
            }

            columns.Add(target);
            ordinals.Add(i);
            mapped.Add(target.Name);
        }

        if (extra.Count > 0)
        {
            throw IntakeException.Schema(fromHeader
                ? $"Source '{source.SourceName}' has columns that table '{table}' lacks: {Names(extra)}."
                : $"Source '{source.SourceName}' has columns that are not declared for table '{table}': {Names(extra)}.");
        }

        var required = targets.Where(t => !t.Nullable && !t.HasDefault && !mapped.Contains(t.Name)).Select(t => t.Name).ToList();
        if (required.Count > 0)
        {
            throw IntakeException.Schema($"Source '{source.SourceName}' lacks the columns {Names(required)}, which table '{table}' requires (not nullable).");
        }

        return new CopyPlan(columns, ordinals);
    }

    private static string Names(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{ValueText.Truncate(n)}'"));
}
