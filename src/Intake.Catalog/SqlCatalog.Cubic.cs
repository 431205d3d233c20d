using System.Data;
using System.Data.Common;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// The Cubic slice's snapshots (<see cref="ICubicStore"/>): <c>cubic_table_snapshots</c> per registered source table
/// and <c>cubic_load_snapshots</c> per load. One SQL text for both databases, like the rest of the class.
/// </summary>
public abstract partial class SqlCatalog : ICubicStore
{
    public Task RecordSnapshotAsync(string pipeline, string table, DateTimeOffset snapshot, string snapshotKey, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pipeline);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        ArgumentException.ThrowIfNullOrWhiteSpace(snapshotKey);
        return RunAsync(async connection =>
        {
            // ON CONFLICT DO NOTHING: a re-drive of the first LOAD file, or two workers at once, record it once.
            var insert = Command(connection, """
                INSERT INTO cubic_table_snapshots (table_id, snapshot, snapshot_key, created_at)
                SELECT id, @snapshot, @key, @now FROM intake_source_tables WHERE pipeline = @pipeline AND name = @table
                ON CONFLICT (table_id, snapshot) DO NOTHING
                """);
            AddTime(insert, "@snapshot", snapshot);
            Add(insert, "@key", snapshotKey, DbType.String);
            AddTime(insert, "@now", Now());
            Add(insert, "@pipeline", pipeline, DbType.String);
            Add(insert, "@table", table, DbType.String);
            await ExecuteAsync(insert, cancellationToken);
            var check = Command(connection, "SELECT COUNT(*) FROM intake_source_tables WHERE pipeline = @pipeline AND name = @table");
            Add(check, "@pipeline", pipeline, DbType.String);
            Add(check, "@table", table, DbType.String);
            if ((await QueryListAsync(check, r => r.GetInt64(0), cancellationToken))[0] == 0)
            {
                throw new InvalidOperationException($"table '{table}' is not registered for pipeline '{pipeline}'");
            }

            return 0;
        }, cancellationToken);
    }

    public Task RecordLoadSnapshotAsync(long loadId, DateTimeOffset snapshot, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            var upsert = Command(connection, """
                INSERT INTO cubic_load_snapshots (load_id, snapshot) VALUES (@load, @snapshot)
                ON CONFLICT (load_id) DO UPDATE SET snapshot = excluded.snapshot
                """);
            Add(upsert, "@load", loadId, DbType.Int64);
            AddTime(upsert, "@snapshot", snapshot);
            return await ExecuteAsync(upsert, cancellationToken);
        }, cancellationToken);

    public Task<DateTimeOffset?> GetLoadSnapshotAsync(long loadId, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            var select = Command(connection, "SELECT snapshot FROM cubic_load_snapshots WHERE load_id = @load");
            Add(select, "@load", loadId, DbType.Int64);
            var found = await QueryListAsync(select, r => GetTime(r, 0), cancellationToken);
            return found.Count == 0 ? (DateTimeOffset?)null : found[0];
        }, cancellationToken);

    public Task<IReadOnlyList<CubicSnapshot>> ListSnapshotsAsync(string pipeline, string? table, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            var select = Command(connection, $"""
                SELECT t.name, s.snapshot, s.snapshot_key, s.created_at
                FROM cubic_table_snapshots s JOIN intake_source_tables t ON t.id = s.table_id
                WHERE t.pipeline = @pipeline{(table is null ? "" : " AND t.name = @table")}
                ORDER BY t.name, s.snapshot
                """);
            Add(select, "@pipeline", pipeline, DbType.String);
            if (table is not null)
            {
                Add(select, "@table", table, DbType.String);
            }

            return await QueryListAsync(select, ReadSnapshot, cancellationToken);
        }, cancellationToken);

    private CubicSnapshot ReadSnapshot(DbDataReader r) => new(r.GetString(0), GetTime(r, 1), r.GetString(2), GetTime(r, 3));
}
