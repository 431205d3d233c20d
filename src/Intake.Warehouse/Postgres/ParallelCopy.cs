using System.Threading.Channels;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Npgsql;
using NpgsqlTypes;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// One source's rows into one table through several COPY connections at once (<c>load.streams</c>): this task reads
/// and parses the file into batches; each stream takes batches from a bounded queue, encodes them and writes them
/// to its own COPY in its own transaction. A COPY is CPU-bound in the server backend that runs it, one core per
/// connection, so N connections use up to N cores of the server where one uses one.
/// </summary>
/// <remarks>
/// Exactly once by load id (see docs/warehouse-streams.md): no stream commits until every stream's COPY has been
/// accepted by the server, so a bad value, a refused row or a dropped connection in any stream rolls every stream back.
/// Then all commit, just before the load's own transaction (which deleted an earlier attempt's rows and writes the
/// ledger row). Only a crash in that moment between the commits leaves rows of the load without its ledger row;
/// the load is then not finished in the catalog, and its retry deletes every row carrying its load id first (it
/// finds them through the streamed row committed before the streams' rows), so nothing is ever doubled.
/// </remarks>
internal static class ParallelCopy
{
    // Two batches waiting per stream: enough that a stream never waits for the reader while it is ahead,
    // few enough that memory stays flat (about 2.5 MB per stream: three batches of up to 256K characters with their field offsets) whatever the file's size.
    private const int QueuedBatchesPerStream = 2;

    public static async Task<CopyCount> RunAsync(
        NpgsqlDataSource dataSource, string sessionName, TableName table, string copySql, CopyPlan plan, IRowSource source, long loadId, int streams, CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var queue = Channel.CreateBounded<RowBatch>(new BoundedChannelOptions(streams * QueuedBatchesPerStream) { SingleWriter = true });
        var free = new System.Collections.Concurrent.ConcurrentBag<RowBatch>();
        var state = new FailureState();
        var workers = new CopyStream[streams];
        var tasks = new Task<long>[streams];
        for (var i = 0; i < streams; i++)
        {
            var rows = new BatchRowSource(source.SourceName, source.Columns, queue.Reader, () => state.FirstBadRow, free.Add);
            var stream = workers[i] = new CopyStream(dataSource, sessionName, copySql, plan, loadId);
            tasks[i] = Task.Run(() => stream.RunAsync(rows, state, failed), CancellationToken.None);
        }

        Exception? readError = null;
        try
        {
            await ReadAsync(source, queue.Writer, free, state, failed.Token);
        }
        catch (Exception e)
        {
            // A format error in the file (found in file order, so after every row already queued), a cancellation, or a
            // stream's failure stopping the reader: the streams finish the rows before it, which may hold an earlier bad
            // value (or the stream's failure) to report instead.
            readError = e;
        }
        finally
        {
            queue.Writer.TryComplete();
        }

        long copied = 0;
        try
        {
            foreach (var task in tasks)
            {
                copied += await task;
            }

            if (state.Fatal is { } fatal)
            {
                throw fatal;
            }

            if (state.RowError is { } rowError)
            {
                throw rowError;
            }

            if (readError is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(readError);
            }

            // Every COPY is in: commit them all at once. From here a failure (or a crash) can leave some streams'
            // rows committed without the ledger row; the load's retry deletes them (DeleteEarlierAttemptAsync) before
            // copying. It looks for them only where the warehouse says a load has rows, so that is said first, durably.
            await RecordStreamedAsync(dataSource, table, loadId, cancellationToken);
            await Task.WhenAll(workers.Select(w => w.CommitAsync(cancellationToken)));
            await SummarizeAsync(dataSource, table, cancellationToken);
            return new CopyCount(copied, copied);
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task ReadAsync(IRowSource source, ChannelWriter<RowBatch> queue, System.Collections.Concurrent.ConcurrentBag<RowBatch> free, FailureState state, CancellationToken cancellationToken)
    {
        var batch = Take(free);
        while (await source.ReadAsync(cancellationToken))
        {
            batch.Add(source);
            if (batch.IsFull)
            {
                if (batch.FirstRowNumber > state.FirstBadRow)
                {
                    return; // a stream found a bad row before these: nothing after it can change the outcome
                }

                await queue.WriteAsync(batch, cancellationToken);
                batch = Take(free);
            }
        }

        if (batch.Count > 0)
        {
            await queue.WriteAsync(batch, cancellationToken);
        }
    }

    private static RowBatch Take(System.Collections.Concurrent.ConcurrentBag<RowBatch> free)
    {
        if (free.TryTake(out var batch))
        {
            batch.Clear();
            return batch;
        }

        return new RowBatch();
    }

    /// <summary>
    /// Rows appended in other transactions are not in a BRIN index's summaries until something summarizes them; without
    /// this a later re-run's delete by load id would read the table's new block ranges instead of skipping them.
    /// </summary>
    /// <summary>
    /// Commits the load's streamed row (<c>_intake_streamed</c>) in a transaction of its own, before any stream commits
    /// its rows: a later attempt finds it and deletes the rows even if the load's own transaction never commits.
    /// </summary>
    private static async Task RecordStreamedAsync(NpgsqlDataSource dataSource, TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"insert into {SqlIdentifier.StreamedTable} (load_id, table_name, started_at) values (@load, @table, now()) on conflict (load_id, table_name) do nothing",
            connection);
        command.Parameters.AddWithValue("load", NpgsqlDbType.Bigint, loadId);
        command.Parameters.AddWithValue("table", NpgsqlDbType.Text, PostgresSession.Qualified(table));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task SummarizeAsync(NpgsqlDataSource dataSource, TableName table, CancellationToken cancellationToken)
    {
        const string sql = """
            select brin_summarize_new_values(i.indexrelid::regclass)
            from pg_catalog.pg_index i
            join pg_catalog.pg_class c on c.oid = i.indexrelid
            join pg_catalog.pg_am a on a.oid = c.relam
            where i.indrelid = to_regclass(@name) and a.amname = 'brin'
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("name", NpgsqlDbType.Text, PostgresSession.Qualified(table));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>What went wrong in any stream: the bad row earliest in the file, and any failure that is not a row's.</summary>
    private sealed class FailureState
    {
        private readonly Lock _lock = new();
        private long _firstBadRow = long.MaxValue;

        public long FirstBadRow => Interlocked.Read(ref _firstBadRow);

        public IntakeException? RowError { get; private set; }

        public Exception? Fatal { get; private set; }

        public void Row(long row, IntakeException error)
        {
            lock (_lock)
            {
                if (row < _firstBadRow)
                {
                    Interlocked.Exchange(ref _firstBadRow, row);
                    RowError = error;
                }
            }
        }

        public void Fail(Exception error)
        {
            lock (_lock)
            {
                Fatal ??= error;
            }
        }
    }

    /// <summary>
    /// One connection, its transaction and its COPY. The transaction carries the load attempt's session name (see
    /// <see cref="PostgresSession.OpenAsync"/>), so a later attempt ends this backend too if its worker was killed.
    /// </summary>
    private sealed class CopyStream(NpgsqlDataSource dataSource, string sessionName, string copySql, CopyPlan plan, long loadId) : IAsyncDisposable
    {
        private NpgsqlConnection? _connection;
        private NpgsqlTransaction? _transaction;

        /// <summary>Copies the batches it takes; returns the rows the server accepted (0 once any stream failed).</summary>
        public async Task<long> RunAsync(BatchRowSource rows, FailureState state, CancellationTokenSource failed)
        {
            NpgsqlRawCopyStream? copy = null;
            try
            {
                _connection = await dataSource.OpenConnectionAsync(failed.Token);
                _transaction = await _connection.BeginTransactionAsync(failed.Token);
                await using (var name = new NpgsqlCommand("select set_config('application_name', @name, true)", _connection, _transaction))
                {
                    name.Parameters.AddWithValue("name", NpgsqlDbType.Text, sessionName);
                    await name.ExecuteNonQueryAsync(failed.Token);
                }

                copy = await _connection.BeginRawBinaryCopyAsync(copySql, failed.Token);
                var writer = new PgBinaryCopyWriter(copy, plan, loadId);
                writer.WriteHeader();
                long read;
                try
                {
                    read = await writer.WriteAllAsync(rows, failed.Token);
                }
                catch (IntakeException e) when (e.Kind is ErrorKind.Schema or ErrorKind.Format && rows.RowNumber > 0)
                {
                    // A bad value. With one stream the load names the first bad row of the file, so this stream
                    // keeps checking the batches it takes that start before the earliest bad row found so far.
                    state.Row(rows.RowNumber, e);
                    await CancelQuietlyAsync(copy);
                    copy = null;
                    await CheckRestAsync(rows, state, failed.Token);
                    return 0;
                }

                await writer.WriteTrailerAsync(failed.Token);
                await copy.DisposeAsync(); // completes the COPY: the server has accepted every row or thrown
                copy = null;
                return read;
            }
            catch (OperationCanceledException) when (failed.IsCancellationRequested)
            {
                return 0; // another stream failed, or the load was cancelled: reported there
            }
            catch (Exception e)
            {
                state.Fail(e);
                await failed.CancelAsync();
                return 0;
            }
            finally
            {
                if (copy is not null)
                {
                    await CancelQuietlyAsync(copy);
                }
            }
        }

        private async Task CheckRestAsync(BatchRowSource rows, FailureState state, CancellationToken cancellationToken)
        {
            var check = new PgBinaryCopyWriter(System.IO.Stream.Null, plan, loadId);
            while (true)
            {
                try
                {
                    await check.WriteAllAsync(rows, cancellationToken);
                    return;
                }
                catch (IntakeException e) when (e.Kind is ErrorKind.Schema or ErrorKind.Format)
                {
                    state.Row(rows.RowNumber, e);
                    check = new PgBinaryCopyWriter(System.IO.Stream.Null, plan, loadId);
                }
            }
        }

        public Task CommitAsync(CancellationToken cancellationToken) => _transaction!.CommitAsync(cancellationToken);

        public async ValueTask DisposeAsync()
        {
            // Without a commit the transaction rolls back; on a broken connection the server has rolled it back already.
            try
            {
                if (_transaction is not null)
                {
                    await _transaction.DisposeAsync();
                }
            }
            catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
            {
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
            }
        }

        private static async Task CancelQuietlyAsync(NpgsqlRawCopyStream copy)
        {
            try
            {
                await copy.CancelAsync();
                await copy.DisposeAsync();
            }
            catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
            {
            }
        }
    }
}
