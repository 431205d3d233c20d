using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Intake.Sources.Database;

/// <summary>
/// The database an export reads: the partitions, and the rows of one partition's window or of a record override,
/// streamed through a data reader (never the whole window in memory). SQL text comes from the configuration
/// (names checked at load) and values always go through parameters.
/// </summary>
public sealed class SourceDatabase : IAsyncDisposable
{
    private const string SqliteTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
    private readonly DatabaseSourceOptions _config;
    private readonly DbConnection _connection;

    private SourceDatabase(DatabaseSourceOptions config, DbConnection connection)
    {
        _config = config;
        _connection = connection;
    }

    public bool IsPostgres => _config.Kind == "postgres";

    public static async Task<SourceDatabase> OpenAsync(DatabaseSourceOptions config, CancellationToken cancellationToken)
    {
        DbConnection connection = config.Kind switch
        {
            // Times are compared in UTC whatever the server's TimeZone setting (timestamp without time zone columns).
            "postgres" => new NpgsqlConnection(new NpgsqlConnectionStringBuilder(config.Connection) { Timezone = "UTC" }.ConnectionString),
            "sqlite" => new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = config.Connection, Mode = SqliteOpenMode.ReadOnly }.ConnectionString),
            _ => throw IntakeException.Config($"database kind '{config.Kind}' cannot be exported from (sqlite, postgres)"),
        };
        try
        {
            await connection.OpenAsync(cancellationToken);
            return new SourceDatabase(config, connection);
        }
        catch (Exception e)
        {
            await connection.DisposeAsync();
            throw Translate(e, "cannot open the source database");
        }
    }

    /// <summary>Every partition: the configured partitions query, else the distinct values of the partition column.</summary>
    public async Task<List<string>> ListPartitionsAsync(CancellationToken cancellationToken)
    {
        var sql = _config.PartitionsQuery
            ?? $"SELECT DISTINCT {_config.PartitionColumn} FROM {_config.From} WHERE {_config.PartitionColumn} IS NOT NULL";
        var list = new List<string>();
        try
        {
            await using var command = Command(sql);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                if (!reader.IsDBNull(0))
                {
                    list.Add(Text(reader.GetValue(0)));
                }
            }
        }
        catch (Exception e) when (e is DbException or InvalidOperationException)
        {
            throw Translate(e, "listing the partitions failed");
        }

        list.Sort(StringComparer.Ordinal);
        return list;
    }

    /// <summary>
    /// Rows of one partition with <c>start &lt;= time &lt; end</c>, in no particular order: without an ORDER BY, PostgreSQL
    /// reads a partition scattered over the table with a bitmap scan in physical order instead of jumping around the
    /// heap for every row (twice as fast on a table written in time order across partitions).
    /// </summary>
    public Task<DbDataReader> ReadWindowAsync(string partition, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var c = _config;
        var command = Command($"SELECT * FROM {c.From} WHERE {c.PartitionColumn} = @partition AND {c.TimeColumn} >= @start AND {c.TimeColumn} < @end");
        AddPartition(command, partition);
        AddTime(command, "@start", start);
        AddTime(command, "@end", end);
        return ExecuteAsync(command, cancellationToken);
    }

    /// <summary>The rows with the given ids, whatever their time, grouped by partition.</summary>
    public Task<DbDataReader> ReadRecordsAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var c = _config;
        // Ids are compared as text, so one request shape fits integer and text id columns alike.
        var filter = IsPostgres
            ? $"CAST({c.IdColumn} AS text) = ANY(@ids)"
            : $"CAST({c.IdColumn} AS TEXT) IN (SELECT value FROM json_each(@ids))";
        var command = Command($"SELECT * FROM {c.From} WHERE {filter} ORDER BY {c.PartitionColumn}, {c.TimeColumn}");
        if (command is NpgsqlCommand npg)
        {
            npg.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids.ToArray() });
        }
        else
        {
            Add(command, "@ids", JsonSerializer.Serialize(ids), DbType.String);
        }

        return ExecuteAsync(command, cancellationToken);
    }

    private static async Task<DbDataReader> ExecuteAsync(DbCommand command, CancellationToken cancellationToken)
    {
        try
        {
            // The command lives as long as its reader; disposing the reader is enough for both drivers.
            return await command.ExecuteReaderAsync(CommandBehavior.SingleResult, cancellationToken);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException)
        {
            await command.DisposeAsync();
            throw Translate(e, "the export query failed");
        }
    }

    /// <summary>A value as the text the watermark table, the partition whitelist and record ids use.</summary>
    public static string Text(object value) => value switch
    {
        string s => s,
        DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Source failures: connection problems are transient (retried), SQL errors are the configuration's.</summary>
    public static IntakeException Translate(Exception e, string what) => e switch
    {
        IntakeException ie => ie,
        NpgsqlException { IsTransient: true } => IntakeException.Transient($"{what}: {e.Message}", e),
        PostgresException pg => IntakeException.Schema($"{what}: {pg.SqlState}: {pg.MessageText}", e),
        SqliteException { SqliteErrorCode: 5 or 6 } => IntakeException.Transient($"{what}: {e.Message}", e),
        SqliteException => IntakeException.Schema($"{what}: {e.Message}", e),
        IOException or TimeoutException => IntakeException.Transient($"{what}: {e.Message}", e),
        _ => IntakeException.Schema($"{what}: {e.Message}", e),
    };

    // Configuration SQL: names are checked at load, values are parameters.
#pragma warning disable CA2100
    private DbCommand Command(string sql)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 0; // a large window may take long; cancellation stops it
        return command;
    }
#pragma warning restore CA2100

    private void AddPartition(DbCommand command, string partition)
    {
        if (command is NpgsqlCommand npg)
        {
            // Unknown: the server types the text from the column it is compared with (integer or text partitions alike).
            npg.Parameters.Add(new NpgsqlParameter("partition", NpgsqlDbType.Unknown) { Value = partition });
        }
        else
        {
            // SQLite applies the column's affinity to the text, so an integer column matches '42'.
            Add(command, "@partition", partition, DbType.String);
        }
    }

    private void AddTime(DbCommand command, string name, DateTimeOffset value)
    {
        if (IsPostgres)
        {
            Add(command, name, value.ToUniversalTime(), DbType.DateTimeOffset);
        }
        else
        {
            // SQLite keeps times as text: the source column must hold fixed-width UTC ISO 8601 text, compared as text.
            Add(command, name, value.UtcDateTime.ToString(SqliteTimeFormat, CultureInfo.InvariantCulture), DbType.String);
        }
    }

    private static void Add(DbCommand command, string name, object value, DbType type)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.DbType = type;
        p.Value = value;
        command.Parameters.Add(p);
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
