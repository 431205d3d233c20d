using System.Data;
using System.Data.Common;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// What the server hosts need from the catalog beyond <see cref="ICatalog"/>: API keys, the scheduler's
/// shared state, and read-only queries for the REST API and metrics. Same rule as the rest of the class:
/// one SQL text for both databases.
/// </summary>
public abstract partial class SqlCatalog : IApiKeyStore, IScheduleStore, ICatalogQueries
{
    private const string KeyColumns = "id, secret_hash, customer, scope, name, created_at, revoked_at";

    // ---------------------------------------------------------------------------------------------
    // API keys
    // ---------------------------------------------------------------------------------------------

    public Task<ApiKeyRecord> CreateApiKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrWhiteSpace(key.Id);
        ArgumentException.ThrowIfNullOrWhiteSpace(key.SecretHash);
        ArgumentException.ThrowIfNullOrWhiteSpace(key.Customer);

        return RunAsync(async connection =>
        {
            var insert = Command(connection, $"""
                INSERT INTO intake_api_keys (id, secret_hash, customer, scope, name, created_at)
                VALUES (@id, @hash, @customer, @scope, @name, @now)
                RETURNING {KeyColumns}
                """);
            Add(insert, "@id", key.Id, DbType.String);
            Add(insert, "@hash", key.SecretHash, DbType.String);
            Add(insert, "@customer", key.Customer, DbType.String);
            Add(insert, "@scope", key.Scope.ToWord(), DbType.String);
            Add(insert, "@name", key.Name, DbType.String);
            AddTime(insert, "@now", Now());
            return (await QuerySingleAsync(insert, ReadKey, cancellationToken))!;
        }, cancellationToken);
    }

    public Task<ApiKeyRecord?> FindApiKeyAsync(string id, CancellationToken cancellationToken) => RunAsync(connection =>
    {
        var select = Command(connection, $"SELECT {KeyColumns} FROM intake_api_keys WHERE id = @id");
        Add(select, "@id", id, DbType.String);
        return QuerySingleAsync(select, ReadKey, cancellationToken);
    }, cancellationToken);

    public Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(CancellationToken cancellationToken) => RunAsync(connection =>
        QueryListAsync(Command(connection, $"SELECT {KeyColumns} FROM intake_api_keys ORDER BY created_at, id"), ReadKey, cancellationToken),
        cancellationToken);

    public Task<IReadOnlyList<string>> ListSessionKeysAsync(CancellationToken cancellationToken) => RunAsync(connection =>
        QueryListAsync(Command(connection, "SELECT xml FROM intake_ui_keys ORDER BY id"), r => r.GetString(0), cancellationToken),
        cancellationToken);

    public Task AddSessionKeyAsync(string name, string xml, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(xml);
        return RunAsync(connection =>
        {
            var insert = Command(connection, "INSERT INTO intake_ui_keys (name, xml, created_at) VALUES (@name, @xml, @now)");
            Add(insert, "@name", name, DbType.String);
            Add(insert, "@xml", xml, DbType.String);
            AddTime(insert, "@now", Now());
            return ExecuteAsync(insert, cancellationToken);
        }, cancellationToken);
    }

    public Task<bool> RevokeApiKeyAsync(string id, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var update = Command(connection, "UPDATE intake_api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL");
        Add(update, "@id", id, DbType.String);
        AddTime(update, "@now", Now());
        return await ExecuteAsync(update, cancellationToken) == 1;
    }, cancellationToken);

    private ApiKeyRecord ReadKey(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        SecretHash = r.GetString(1),
        Customer = r.GetString(2),
        Scope = ApiKeyScopeNames.TryParse(r.GetString(3), out var scope) ? scope : throw new InvalidDataException($"unknown API key scope '{r.GetString(3)}' in the catalog"),
        Name = StringOrNull(r, 4),
        CreatedAt = GetTime(r, 5),
        RevokedAt = r.IsDBNull(6) ? null : GetTime(r, 6),
    };

    // ---------------------------------------------------------------------------------------------
    // Scheduler
    // ---------------------------------------------------------------------------------------------

    public Task<bool> TryClaimScheduledRunAsync(string pipeline, DateTimeOffset scheduledFor, string owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pipeline);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);

        return RunAsync(async connection =>
        {
            // Exactly once across processes: the primary key admits one row per (pipeline, time); a second
            // process inserting the same run at the same moment gets "nothing inserted" (PostgreSQL makes it
            // wait for the first insert to commit), never an error and never a second row.
            var insert = Command(connection, """
                INSERT INTO intake_schedule_runs (pipeline, scheduled_for, claimed_by, claimed_at)
                VALUES (@pipeline, @scheduled_for, @owner, @now)
                ON CONFLICT (pipeline, scheduled_for) DO NOTHING
                """);
            Add(insert, "@pipeline", pipeline, DbType.String);
            AddTime(insert, "@scheduled_for", scheduledFor);
            Add(insert, "@owner", owner, DbType.String);
            AddTime(insert, "@now", Now());
            return await ExecuteAsync(insert, cancellationToken) == 1;
        }, cancellationToken);
    }

    public async Task<ScheduledRun?> GetLastScheduledRunAsync(string pipeline, CancellationToken cancellationToken)
    {
        var runs = await ListScheduledRunsAsync(pipeline, 1, cancellationToken);
        return runs.Count > 0 ? runs[0] : null;
    }

    public Task<IReadOnlyList<ScheduledRun>> ListScheduledRunsAsync(string pipeline, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return RunAsync(connection =>
        {
            var select = Command(connection, """
                SELECT pipeline, scheduled_for, claimed_by, claimed_at FROM intake_schedule_runs
                WHERE pipeline = @pipeline ORDER BY scheduled_for DESC LIMIT @limit
                """);
            Add(select, "@pipeline", pipeline, DbType.String);
            Add(select, "@limit", limit, DbType.Int32);
            return QueryListAsync(select, r => new ScheduledRun(r.GetString(0), GetTime(r, 1), r.GetString(2), GetTime(r, 3)), cancellationToken);
        }, cancellationToken);
    }

    public Task PausePipelineAsync(string pipeline, string? by, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pipeline);
        return RunAsync(async connection =>
        {
            var insert = Command(connection, """
                INSERT INTO intake_pipeline_pauses (pipeline, paused_by, paused_at) VALUES (@pipeline, @by, @now)
                ON CONFLICT (pipeline) DO NOTHING
                """);
            Add(insert, "@pipeline", pipeline, DbType.String);
            Add(insert, "@by", by, DbType.String);
            AddTime(insert, "@now", Now());
            return await ExecuteAsync(insert, cancellationToken);
        }, cancellationToken);
    }

    public Task<bool> ResumePipelineAsync(string pipeline, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var delete = Command(connection, "DELETE FROM intake_pipeline_pauses WHERE pipeline = @pipeline");
        Add(delete, "@pipeline", pipeline, DbType.String);
        return await ExecuteAsync(delete, cancellationToken) == 1;
    }, cancellationToken);

    public Task<IReadOnlyDictionary<string, PipelinePause>> GetPausedPipelinesAsync(CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var rows = await QueryListAsync(
            Command(connection, "SELECT pipeline, paused_by, paused_at FROM intake_pipeline_pauses"),
            r => new PipelinePause(r.GetString(0), StringOrNull(r, 1), GetTime(r, 2)),
            cancellationToken);
        return (IReadOnlyDictionary<string, PipelinePause>)rows.ToDictionary(p => p.Pipeline, StringComparer.Ordinal);
    }, cancellationToken);

    // ---------------------------------------------------------------------------------------------
    // Queries for the API and metrics
    // ---------------------------------------------------------------------------------------------

    public Task<IReadOnlyList<Watermark>> ListWatermarksAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken)
    {
        var names = pipelines?.ToArray();
        if (names is { Length: 0 })
        {
            return Task.FromResult<IReadOnlyList<Watermark>>([]);
        }

        return RunAsync(connection =>
        {
            var select = Command(connection, "");
            var filter = names is null ? "" : $" WHERE pipeline IN ({InList(select, "@p", names)})";

            select.CommandText = $"SELECT pipeline, partition_key, value, updated_at FROM intake_watermarks{filter} ORDER BY pipeline, partition_key";
            return QueryListAsync(select, r => new Watermark(r.GetString(0), r.GetString(1), r.GetString(2), GetTime(r, 3)), cancellationToken);
        }, cancellationToken);
    }

    public Task PingAsync(CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        return await ScalarAsync(Command(connection, "SELECT 1"), cancellationToken);
    }, cancellationToken);
}
