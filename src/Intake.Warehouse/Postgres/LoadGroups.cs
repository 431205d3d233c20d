using System.Collections.Concurrent;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Intake.Shared.Batching;
using Npgsql;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// Small loads (<see cref="WarehouseLoadRequest.Small"/>) into one table, committed together: the loads that workers of
/// one process hand over while a group is being committed go in the next group, one transaction for all of them (one
/// round trip for the session's name, the table's columns and every load's earlier rows deleted; one COPY; every
/// load's ledger row with the COMMIT) instead of three round trips and a commit each. A single load goes at once:
/// nothing waits for a group to fill.
/// </summary>
/// <remarks>
/// <para>
/// Exactly once holds as for a load alone: each load's rows and its ledger row commit in the same transaction, and the
/// earlier rows of every load in the group are deleted in it first.
/// </para>
/// <para>
/// Each load encodes its rows before it joins, with the columns this process last saw the table with
/// (<see cref="KnownTables"/>): a bad value fails that load alone, named by its file and line, and no transaction is
/// opened for it. A file whose header those columns do not take (the table may have changed since) goes as any load
/// would, reading the columns anew. The group checks the table's columns in its first round trip; if a column a load
/// encoded for is gone or retyped (or the table is), that load fails as transient and its step runs again, reading the
/// new columns. If anything else fails in a group of several loads (a constraint of the table, a lost connection), the
/// group rolls back and each load is committed alone from its encoded rows, so one load's failure is reported for that
/// load only.
/// </para>
/// <para>
/// The first small load into a table this process has not seen goes alone (creating the table when missing) and the
/// others into that table wait for it, so that a start with many loads in flight opens one session, not one each.
/// </para>
/// <para>
/// Memory stays bounded: a load whose encoded rows outgrow <see cref="MaxBufferedBytes"/> leaves the group and streams
/// the rest of its rows into a transaction of its own, as a big load does.
/// </para>
/// </remarks>
/// <param name="open">Opens a load's session.</param>
/// <param name="loadAlone">Loads as any load that is not small: for a load the table's columns as last seen do not take.</param>
/// <param name="knownTables">The tables this process has seen, with their columns.</param>
/// <param name="clock">The clock for ledger rows.</param>
internal sealed class LoadGroups(
    Func<SessionTag, CancellationToken, Task<PostgresSession>> open,
    Func<WarehouseLoadRequest, IAsyncEnumerable<IRowSource>, CancellationToken, Task<WarehouseLoadResult>> loadAlone,
    KnownTables knownTables,
    TimeProvider clock)
{
    /// <summary>The load that goes first into a table this process has not seen, per table, while it runs.</summary>
    private readonly ConcurrentDictionary<TableName, Task> _firstLoads = new();

    /// <summary>The encoded rows a load may hold in memory while it waits for its group (settable for tests).</summary>
    internal int MaxBufferedBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most loads one group takes: its ledger rows and their COPY stay a modest transaction.</summary>
    private const int MaxGroup = 32;

    private readonly ConcurrentDictionary<TableName, GroupQueue<Member>> _queues = new();
    private long _groups;
    private long _grouped;

    /// <summary>Groups of two or more loads committed in one transaction so far (for tests).</summary>
    internal long GroupsCommitted => Interlocked.Read(ref _groups);

    /// <summary>Loads committed in those groups (for tests).</summary>
    internal long LoadsCommittedInGroups => Interlocked.Read(ref _grouped);

    /// <summary>Loads handed over and not answered yet (for tests).</summary>
    internal int Waiting => Volatile.Read(ref _waiting);

    private int _waiting;

    /// <summary>
    /// Encodes the load's rows for <paramref name="shape"/>, then commits them in the next group (or alone, when they
    /// outgrow the buffer). When the columns seen do not take the load's first source (the table may have changed since),
    /// nothing is encoded yet and the load goes as any other (<c>loadAlone</c>), which reads the table's columns anew.
    /// </summary>
    public async Task<WarehouseLoadResult> LoadAsync(WarehouseLoadRequest request, TableName table, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        if (knownTables.Shape(table) is { } shape)
        {
            return await EncodeAndCommitAsync(request, table, shape, sources, cancellationToken);
        }

        // A table this process has not seen (or not since it changed): one small load goes alone and shows it (creating
        // it when missing), and the others into that table wait for it, instead of each opening a session of its own,
        // describing the table and queueing on the schema lock to create it.
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = _firstLoads.GetOrAdd(table, mine.Task);
        if (first == mine.Task)
        {
            try
            {
                var result = await loadAlone(request, sources, cancellationToken);
                if (knownTables.Shape(table) is null)
                {
                    await TableNowAsync(request, table); // it created the table: its columns, for the loads waiting
                }

                return result;
            }
            finally
            {
                _firstLoads.TryRemove(KeyValuePair.Create(table, mine.Task));
                mine.SetResult();
            }
        }

        await first.WaitAsync(cancellationToken);
        return knownTables.Shape(table) is { } seen
            ? await EncodeAndCommitAsync(request, table, seen, sources, cancellationToken)
            : await loadAlone(request, sources, cancellationToken); // the first load failed before it saw the table
    }

    private async Task<WarehouseLoadResult> EncodeAndCommitAsync(
        WarehouseLoadRequest request, TableName table, TableShape shape, IAsyncEnumerable<IRowSource> sources, CancellationToken cancellationToken)
    {
        var fromHeader = request.Columns is null;
        List<TargetColumn> targets;
        try
        {
            targets = LoadRunner.Resolve(table, shape, request.Columns, storesAnyType: false);
        }
        catch (IntakeException e) when (e.Kind == ErrorKind.Schema)
        {
            return await loadAlone(request, sources, cancellationToken);
        }

        var byName = targets.ToDictionary(t => t.Name, StringComparer.OrdinalIgnoreCase);
        var member = new Member(request);
        Alone? alone = null;
        await using var enumerator = sources.GetAsyncEnumerator(cancellationToken);
        try
        {
            while (await enumerator.MoveNextAsync())
            {
                var source = enumerator.Current;
                CopyPlan plan;
                try
                {
                    plan = LoadRunner.Plan(table, source, targets, byName, fromHeader);
                }
                catch (IntakeException e) when (e.Kind == ErrorKind.Schema && member.Parts.Count == 0 && alone is null)
                {
                    return await loadAlone(request, Rest(source, enumerator), cancellationToken);
                }
                catch (IntakeException e) when (e.Kind == ErrorKind.Schema)
                {
                    await source.DisposeAsync();
                    throw await TableNowAsync(request, table) is { } now && !now.SameAs(shape) ? TableChanged(table) : e;
                }
                catch
                {
                    await source.DisposeAsync();
                    throw;
                }

                await using (source)
                {
                    if (alone is not null)
                    {
                        member.Read += (await alone.Session.CopyAsync(table, plan, source, request.LoadId, cancellationToken)).Read;
                        continue;
                    }

                    var copySql = PostgresSession.CopySql(table, plan);
                    var output = new GroupBuffer(MaxBufferedBytes - member.Parts.Sum(p => p.Rows.Length), async t =>
                    {
                        alone = await OpenAloneAsync(member, table, t);
                        return await alone.Session.BeginCopyAsync(copySql, t);
                    });
                    var writer = new PgBinaryCopyWriter(output, plan, request.LoadId);
                    member.Read += await writer.WriteAllAsync(source, cancellationToken);
                    await writer.FlushAsync(cancellationToken);
                    if (output.Copy is { } copy)
                    {
                        await PostgresSession.EndCopyAsync(copy, cancellationToken);
                    }
                    else
                    {
                        member.Parts.Add(new Part(copySql, output.Encoded, plan.Columns));
                    }
                }
            }

            if (alone is not null)
            {
                await alone.Session.RecordLedgerAsync(request, member.Read, clock.GetUtcNow(), cancellationToken);
                await alone.Session.CommitAsync(cancellationToken);
                return new WarehouseLoadResult(member.Read, member.Read, alone.EarlierRowsDeleted);
            }
        }
        finally
        {
            if (alone is not null)
            {
                await alone.Session.DisposeAsync();
            }
        }

        return await CommitAsync(table, member, cancellationToken);

        static async IAsyncEnumerable<IRowSource> Rest(IRowSource first, IAsyncEnumerator<IRowSource> rest)
        {
            yield return first;
            while (await rest.MoveNextAsync())
            {
                yield return rest.Current;
            }
        }
    }

    /// <summary>The table's columns as they are now (a round trip of its own), for telling a stale view from a bad source.</summary>
    private async Task<TableShape?> TableNowAsync(WarehouseLoadRequest request, TableName table)
    {
        await using var session = await open(new SessionTag(request.LoadId, request.Step, request.Attempt), CancellationToken.None);
        return (await session.DescribeForGroupAsync(table, [], CancellationToken.None)).Shape;
    }

    /// <summary>Hands the encoded load to the next group of its table and waits for its answer.</summary>
    private Task<WarehouseLoadResult> CommitAsync(TableName table, Member member, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        _queues.GetOrAdd(table, t => new GroupQueue<Member>(group => CommitGroupAsync(t, group), MaxGroup)).Add(member);

        // A worker that stops waiting (its lease lost, a shutdown) may still see its rows committed with their ledger
        // row: its load's next attempt deletes them first, as after a crash between the two commits.
        return member.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Commits a group in one transaction; when that fails, each of several loads alone, each getting its own answer.</summary>
    private async Task CommitGroupAsync(TableName table, List<Member> group)
    {
        try
        {
            await CommitOrEachAloneAsync(table, group);
        }
        finally
        {
            Interlocked.Add(ref _waiting, -group.Count);
        }
    }

    private async Task CommitOrEachAloneAsync(TableName table, List<Member> group)
    {
        try
        {
            // Not any one worker's cancellation: the group commits for all of its loads (statements still time out).
            var results = await RunAsync(table, group, CancellationToken.None);
            if (group.Count > 1)
            {
                Interlocked.Increment(ref _groups);
                Interlocked.Add(ref _grouped, group.Count);
            }

            for (var i = 0; i < group.Count; i++)
            {
                group[i].Done.TrySetResult(results[i]);
            }
        }
        catch (Exception e) when (group.Count == 1)
        {
            group[0].Done.TrySetException(e);
        }
        catch (Exception)
        {
            foreach (var member in group)
            {
                try
                {
                    member.Done.TrySetResult((await RunAsync(table, [member], CancellationToken.None))[0]);
                }
                catch (Exception e)
                {
                    member.Done.TrySetException(e);
                }
            }
        }
    }

    /// <summary>One transaction: name, columns checked, earlier rows deleted; one COPY per column list; the ledger rows with the COMMIT.</summary>
    private async Task<WarehouseLoadResult[]> RunAsync(TableName table, List<Member> group, CancellationToken cancellationToken)
    {
        var (session, deleted) = await OpenWithRowsAsync(table, group, cancellationToken);
        await using (session)
        {
            var now = clock.GetUtcNow();
            foreach (var member in group)
            {
                await session.RecordLedgerAsync(member.Request, member.Read, now, cancellationToken);
            }

            await session.CommitAsync(cancellationToken);
        }

        return [.. group.Select(m => new WarehouseLoadResult(m.Read, m.Read, deleted.GetValueOrDefault(m.Request.LoadId)))];
    }

    /// <summary>A transaction of the load's own, for rows that outgrew the buffer: its earlier rows deleted, the rows encoded so far sent.</summary>
    private async Task<Alone> OpenAloneAsync(Member member, TableName table, CancellationToken cancellationToken)
    {
        var (session, deleted) = await OpenWithRowsAsync(table, [member], cancellationToken);
        return new Alone(session, deleted.GetValueOrDefault(member.Request.LoadId));
    }

    /// <summary>
    /// A session (the first load's) with the loads' earlier rows deleted, the table's columns checked against what the
    /// loads encoded for, and their encoded rows sent, one COPY per column list; not committed.
    /// </summary>
    private async Task<(PostgresSession Session, IReadOnlyDictionary<long, long> EarlierRowsDeleted)> OpenWithRowsAsync(
        TableName table, IReadOnlyList<Member> members, CancellationToken cancellationToken)
    {
        var first = members[0].Request;
        var session = await open(new SessionTag(first.LoadId, first.Step, first.Attempt), cancellationToken);
        try
        {
            var (shape, deleted) = await session.DescribeForGroupAsync(table, [.. members.Select(m => m.Request.LoadId)], cancellationToken);
            if (members.Any(m => !StillFits(m, shape)))
            {
                throw TableChanged(table);
            }

            foreach (var copy in members.SelectMany(m => m.Parts).GroupBy(p => p.CopySql))
            {
                await session.CopyEncodedAsync(copy.Key, copy.Select(p => p.Rows), cancellationToken);
            }

            return (session, deleted);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Whether rows encoded for the columns the load saw still go into the table as it is now: every column they name is
    /// there with the same type. A column added since takes its default, as in any load that does not write it; a new
    /// column that needs a value fails the COPY, and the load alone then.
    /// </summary>
    private static bool StillFits(Member member, TableShape? now) =>
        now is { HasLoadIdColumn: true }
        && member.Parts.SelectMany(p => p.Columns).All(c => now.Columns.Any(e =>
            string.Equals(e.Name, c.Name, StringComparison.Ordinal) && e.Type == c.Type && e.StoreType == c.StoreType));

    private static IntakeException TableChanged(TableName table) =>
        IntakeException.Transient($"Table '{table}' changed while the load encoded its rows for it; the load runs again with its new columns.");

    /// <summary>A load waiting for its group: its rows encoded for the table's columns as it saw them, per COPY column list.</summary>
    private sealed class Member(WarehouseLoadRequest request)
    {
        public WarehouseLoadRequest Request { get; } = request;

        public List<Part> Parts { get; } = [];

        public long Read { get; set; }

        public TaskCompletionSource<WarehouseLoadResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record Alone(PostgresSession Session, long EarlierRowsDeleted);

    /// <summary>Rows of one source, encoded for these columns of the table, to go in the COPY of that column list.</summary>
    private sealed record Part(string CopySql, ReadOnlyMemory<byte> Rows, IReadOnlyList<TargetColumn> Columns);

    /// <summary>
    /// Where a load's encoder writes: memory up to a limit; past it, a COPY of the load's own (opened by
    /// <c>spill</c>, which sends what the load encoded before), given what was held and then every later write.
    /// </summary>
    private sealed class GroupBuffer(int limit, Func<CancellationToken, Task<NpgsqlRawCopyStream>> spill) : Stream
    {
        private readonly MemoryStream _memory = new();

        /// <summary>The COPY the rows went to once they outgrew the limit; null while they are held.</summary>
        public NpgsqlRawCopyStream? Copy { get; private set; }

        public ReadOnlyMemory<byte> Encoded => _memory.GetBuffer().AsMemory(0, (int)_memory.Length);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Copy is null && _memory.Length + buffer.Length <= limit)
            {
                _memory.Write(buffer.Span);
                return;
            }

            if (Copy is null)
            {
                Copy = await spill(cancellationToken);
                await Copy.WriteAsync(Encoded, cancellationToken);
                _memory.SetLength(0);
            }

            await Copy.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    }
}
