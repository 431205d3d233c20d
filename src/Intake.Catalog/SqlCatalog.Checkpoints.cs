using System.Data;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// Step checkpoints (<see cref="ICheckpointStore"/>): one row per (load, step), replaced on every save. Same rule
/// as the rest of the class: one SQL text for both databases.
/// </summary>
public abstract partial class SqlCatalog : ICheckpointStore
{
    public Task<string?> GetCheckpointAsync(long loadId, string step, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        return RunAsync(async connection =>
        {
            var select = Command(connection, "SELECT state FROM intake_checkpoints WHERE load_id = @load AND step = @step");
            Add(select, "@load", loadId, DbType.Int64);
            Add(select, "@step", step, DbType.String);
            var rows = await QueryListAsync(select, r => r.GetString(0), cancellationToken);
            return rows.Count > 0 ? rows[0] : null;
        }, cancellationToken);
    }

    public Task SaveCheckpointAsync(long loadId, string step, string state, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        ArgumentNullException.ThrowIfNull(state);
        return RunAsync(async connection =>
        {
            // One statement: a crash between a delete and an insert can never lose the checkpoint.
            var upsert = Command(connection, """
                INSERT INTO intake_checkpoints (load_id, step, state, updated_at) VALUES (@load, @step, @state, @now)
                ON CONFLICT (load_id, step) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """);
            Add(upsert, "@load", loadId, DbType.Int64);
            Add(upsert, "@step", step, DbType.String);
            Add(upsert, "@state", state, DbType.String);
            AddTime(upsert, "@now", Now());
            return await ExecuteAsync(upsert, cancellationToken);
        }, cancellationToken);
    }

    public Task DeleteCheckpointAsync(long loadId, string step, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        return RunAsync(async connection =>
        {
            var delete = Command(connection, "DELETE FROM intake_checkpoints WHERE load_id = @load AND step = @step");
            Add(delete, "@load", loadId, DbType.Int64);
            Add(delete, "@step", step, DbType.String);
            return await ExecuteAsync(delete, cancellationToken);
        }, cancellationToken);
    }
}
