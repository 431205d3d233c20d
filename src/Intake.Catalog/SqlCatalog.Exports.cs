using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// The incremental exporter's state: requests, per-partition results and watermarks. Same rule as the rest of
/// the class: one SQL text for both databases.
/// </summary>
/// <remarks>
/// Watermarks are stored as fixed-width UTC text (<c>2026-01-31T23:59:59.123Z</c>) in both databases, so the
/// "never backwards" rule is a plain text comparison in SQL and needs no dialect.
/// </remarks>
public abstract partial class SqlCatalog : IExportStore
{
    private const string RequestColumns =
        "r.id, r.pipeline, r.customer, r.request_key, r.export_type, r.start_at, r.end_at, r.ignore_last_export_time, r.partitions, " +
        "r.record_ids, r.records_key, r.tag, r.redrive_count, r.redrive_of, r.not_before, r.requested_at, r.load_id";

    private const string PartitionColumns =
        "pipeline, request_key, partition_key, window_start, window_end, outcome, rows_out, rows_failed, object_key, error, finished_at";

    private const string WatermarkFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    public Task<(ExportRequestRecord Request, bool Created)> AddExportRequestAsync(ExportRequestRecord request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Pipeline);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.RequestKey);

        return RunAsync(async connection =>
        {
            // Race-safe like RegisterLoadAsync: ON CONFLICT DO NOTHING never fails when another process adds the
            // same request at the same moment (PostgreSQL waits for its insert to commit), and then the row exists.
            var insert = Command(connection, $"""
                INSERT INTO intake_export_requests (pipeline, customer, request_key, export_type, start_at, end_at, ignore_last_export_time,
                    partitions, record_ids, records_key, tag, redrive_count, redrive_of, not_before, requested_at)
                VALUES (@pipeline, @customer, @request_key, @export_type, @start_at, @end_at, @ignore, @partitions, @record_ids, @records_key,
                    @tag, @redrive_count, @redrive_of, @not_before, @now)
                ON CONFLICT (pipeline, request_key) DO NOTHING
                RETURNING {RequestColumns.Replace("r.", "", StringComparison.Ordinal)}
                """);
            Add(insert, "@pipeline", request.Pipeline, DbType.String);
            Add(insert, "@customer", request.Customer, DbType.String);
            Add(insert, "@request_key", request.RequestKey, DbType.String);
            Add(insert, "@export_type", request.ExportType, DbType.String);
            AddTime(insert, "@start_at", request.Start);
            AddTime(insert, "@end_at", request.End);
            Add(insert, "@ignore", request.IgnoreLastExportTime, DbType.Boolean);
            Add(insert, "@partitions", request.Partitions is null ? null : JsonSerializer.Serialize(request.Partitions), DbType.String);
            Add(insert, "@record_ids", request.RecordIds is { Count: > 0 } ids ? JsonSerializer.Serialize(ids) : null, DbType.String);
            Add(insert, "@records_key", request.RecordsKey, DbType.String);
            Add(insert, "@tag", request.Tag, DbType.String);
            Add(insert, "@redrive_count", request.RedriveCount, DbType.Int32);
            Add(insert, "@redrive_of", request.RedriveOf, DbType.String);
            AddTime(insert, "@not_before", request.NotBefore);
            AddTime(insert, "@now", Now());
            if (await QuerySingleAsync(insert, ReadRequest, cancellationToken) is { } created)
            {
                return (created, true);
            }

            var existing = await GetRequestAsync(connection, request.Pipeline, request.RequestKey, cancellationToken)
                ?? throw new InvalidOperationException($"export request {request.Pipeline}/{request.RequestKey} conflicted on insert but does not exist");
            return (existing, false);
        }, cancellationToken);
    }

    public Task<ExportRequestRecord?> GetExportRequestAsync(string pipeline, string requestKey, CancellationToken cancellationToken) =>
        RunAsync(connection => GetRequestAsync(connection, pipeline, requestKey, cancellationToken), cancellationToken);

    private Task<ExportRequestRecord?> GetRequestAsync(DbConnection connection, string pipeline, string requestKey, CancellationToken cancellationToken)
    {
        var select = Command(connection, $"SELECT {RequestColumns} FROM intake_export_requests r WHERE r.pipeline = @pipeline AND r.request_key = @request_key");
        Add(select, "@pipeline", pipeline, DbType.String);
        Add(select, "@request_key", requestKey, DbType.String);
        return QuerySingleAsync(select, ReadRequest, cancellationToken);
    }

    public Task<IReadOnlyList<ExportRequestRecord>> ListDueExportRequestsAsync(string pipeline, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return RunAsync(connection =>
        {
            var select = Command(connection, $"""
                SELECT {RequestColumns} FROM intake_export_requests r
                WHERE r.pipeline = @pipeline AND r.load_id IS NULL AND r.not_before <= @now
                ORDER BY r.id LIMIT @limit
                """);
            Add(select, "@pipeline", pipeline, DbType.String);
            AddTime(select, "@now", now);
            Add(select, "@limit", limit, DbType.Int32);
            return QueryListAsync(select, ReadRequest, cancellationToken);
        }, cancellationToken);
    }

    public Task SetExportRequestLoadAsync(string pipeline, string requestKey, long loadId, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var update = Command(connection, "UPDATE intake_export_requests SET load_id = @load_id WHERE pipeline = @pipeline AND request_key = @request_key");
        Add(update, "@load_id", loadId, DbType.Int64);
        Add(update, "@pipeline", pipeline, DbType.String);
        Add(update, "@request_key", requestKey, DbType.String);
        return await ExecuteAsync(update, cancellationToken);
    }, cancellationToken);

    public Task<IReadOnlyList<ExportRequestRecord>> ListExportRequestsAsync(string? pipeline, string? customer, int limit, CancellationToken cancellationToken) =>
        ListExportRequestsAsync(pipeline, customer, null, limit, cancellationToken);

    public Task<IReadOnlyList<ExportRequestRecord>> ListExportRequestsAsync(string? pipeline, string? customer, long? beforeId, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return RunAsync(connection =>
        {
            var select = Command(connection, "");
            var where = new List<string>();
            if (pipeline is not null)
            {
                where.Add("r.pipeline = @pipeline");
                Add(select, "@pipeline", pipeline, DbType.String);
            }

            if (customer is not null)
            {
                where.Add("r.customer = @customer");
                Add(select, "@customer", customer, DbType.String);
            }

            if (beforeId is not null)
            {
                where.Add("r.id < @before_id");
                Add(select, "@before_id", beforeId.Value, DbType.Int64);
            }

            Add(select, "@limit", limit, DbType.Int32);
            select.CommandText = $"SELECT {RequestColumns} FROM intake_export_requests r" +
                (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + " ORDER BY r.id DESC LIMIT @limit";
            return QueryListAsync(select, ReadRequest, cancellationToken);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<ExportPartitionResult>> GetExportResultsAsync(string pipeline, string requestKey, CancellationToken cancellationToken) => RunAsync(connection =>
    {
        var select = Command(connection, $"SELECT {PartitionColumns} FROM intake_export_partitions WHERE pipeline = @pipeline AND request_key = @request_key ORDER BY partition_key");
        Add(select, "@pipeline", pipeline, DbType.String);
        Add(select, "@request_key", requestKey, DbType.String);
        return QueryListAsync(select, ReadPartition, cancellationToken);
    }, cancellationToken);

    public Task RecordExportPartitionAsync(ExportPartitionResult result, DateTimeOffset? advanceWatermarkTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (advanceWatermarkTo is not null && !result.Succeeded)
        {
            throw new ArgumentException("only a success advances the watermark", nameof(advanceWatermarkTo));
        }

        return RunAsync(async connection =>
        {
            // One transaction: a crash between the two statements can neither advance the watermark without
            // the success being recorded nor record a success whose watermark did not move.
            await using var tx = await connection.BeginTransactionAsync(cancellationToken);
            var now = Now();
            var upsert = Command(connection, $"""
                INSERT INTO intake_export_partitions ({PartitionColumns})
                VALUES (@pipeline, @request_key, @partition, @window_start, @window_end, @outcome, @rows, @rows_failed, @object_key, @error, @now)
                ON CONFLICT (pipeline, request_key, partition_key) DO UPDATE SET
                    window_start = excluded.window_start, window_end = excluded.window_end, outcome = excluded.outcome,
                    rows_out = excluded.rows_out, rows_failed = excluded.rows_failed, object_key = excluded.object_key,
                    error = excluded.error, finished_at = excluded.finished_at
                """, tx);
            Add(upsert, "@pipeline", result.Pipeline, DbType.String);
            Add(upsert, "@request_key", result.RequestKey, DbType.String);
            Add(upsert, "@partition", result.Partition, DbType.String);
            AddTime(upsert, "@window_start", result.WindowStart);
            AddTime(upsert, "@window_end", result.WindowEnd);
            Add(upsert, "@outcome", result.Succeeded ? "succeeded" : "failed", DbType.String);
            Add(upsert, "@rows", result.Rows, DbType.Int64);
            Add(upsert, "@rows_failed", result.RowsFailed, DbType.Int64);
            Add(upsert, "@object_key", result.ObjectKey, DbType.String);
            Add(upsert, "@error", result.Error, DbType.String);
            AddTime(upsert, "@now", now);
            await ExecuteAsync(upsert, cancellationToken);

            if (advanceWatermarkTo is { } to)
            {
                // Never backwards: an export whose end is before the watermark leaves it where it is.
                var advance = Command(connection, """
                    INSERT INTO intake_watermarks (pipeline, partition_key, value, updated_at) VALUES (@pipeline, @partition, @value, @now)
                    ON CONFLICT (pipeline, partition_key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                    WHERE intake_watermarks.value < excluded.value
                    """, tx);
                Add(advance, "@pipeline", result.Pipeline, DbType.String);
                Add(advance, "@partition", result.Partition, DbType.String);
                Add(advance, "@value", FormatWatermark(to), DbType.String);
                AddTime(advance, "@now", now);
                await ExecuteAsync(advance, cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
            return true;
        }, cancellationToken);
    }

    public Task<DateTimeOffset?> GetWatermarkAsync(string pipeline, string partition, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var select = Command(connection, "SELECT value FROM intake_watermarks WHERE pipeline = @pipeline AND partition_key = @partition");
        Add(select, "@pipeline", pipeline, DbType.String);
        Add(select, "@partition", partition, DbType.String);
        var text = await QuerySingleAsync(select, r => r.GetString(0), cancellationToken);
        return text is null ? (DateTimeOffset?)null : ParseWatermark(text);
    }, cancellationToken);

    public Task<bool> DeleteWatermarkAsync(string pipeline, string partition, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var delete = Command(connection, "DELETE FROM intake_watermarks WHERE pipeline = @pipeline AND partition_key = @partition");
        Add(delete, "@pipeline", pipeline, DbType.String);
        Add(delete, "@partition", partition, DbType.String);
        return await ExecuteAsync(delete, cancellationToken) == 1;
    }, cancellationToken);

    private static string FormatWatermark(DateTimeOffset t) => Truncate(t.ToUniversalTime()).ToString(WatermarkFormat, CultureInfo.InvariantCulture);

    /// <summary>A watermark as stored; also what <c>intake watermarks</c> shows.</summary>
    public static DateTimeOffset ParseWatermark(string text) =>
        DateTimeOffset.ParseExact(text, WatermarkFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private ExportRequestRecord ReadRequest(DbDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Pipeline = r.GetString(1),
        Customer = r.GetString(2),
        RequestKey = r.GetString(3),
        ExportType = r.GetString(4),
        Start = r.IsDBNull(5) ? null : GetTime(r, 5),
        End = GetTime(r, 6),
        IgnoreLastExportTime = r.GetBoolean(7),
        Partitions = r.IsDBNull(8) ? null : JsonSerializer.Deserialize<string[]>(r.GetString(8)),
        RecordIds = r.IsDBNull(9) ? null : JsonSerializer.Deserialize<string[]>(r.GetString(9)),
        RecordsKey = StringOrNull(r, 10),
        Tag = StringOrNull(r, 11),
        RedriveCount = r.GetInt32(12),
        RedriveOf = StringOrNull(r, 13),
        NotBefore = GetTime(r, 14),
        RequestedAt = GetTime(r, 15),
        LoadId = LongOrNull(r, 16),
    };

    private ExportPartitionResult ReadPartition(DbDataReader r) => new()
    {
        Pipeline = r.GetString(0),
        RequestKey = r.GetString(1),
        Partition = r.GetString(2),
        WindowStart = r.IsDBNull(3) ? null : GetTime(r, 3),
        WindowEnd = r.IsDBNull(4) ? null : GetTime(r, 4),
        Succeeded = r.GetString(5) == "succeeded",
        Rows = r.GetInt64(6),
        RowsFailed = r.GetInt64(7),
        ObjectKey = StringOrNull(r, 8),
        Error = StringOrNull(r, 9),
        FinishedAt = GetTime(r, 10),
    };
}
