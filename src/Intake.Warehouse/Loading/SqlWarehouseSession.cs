using System.Data.Common;
using System.Globalization;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>The statements whose SQL and ADO.NET use are the same in both dialects (the merge's building blocks).</summary>
internal abstract class SqlWarehouseSession
{
    /// <summary>
    /// A command in this session's transaction. Asynchronous because a dialect may first have to send what it holds
    /// back for its first round trip (PostgreSQL: the session's name, <c>PostgresSession</c>).
    /// </summary>
    protected abstract ValueTask<DbCommand> CommandAsync(string sql, CancellationToken cancellationToken);

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync(sql, cancellationToken);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<string>> DescribeQueryAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync($"select * from ({sql}) as q limit 0", cancellationToken);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
    }

    public async Task<IReadOnlyList<string?>?> DescribeFirstRowAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync(sql, cancellationToken);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return Enumerable.Range(0, reader.FieldCount)
            .Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))
            .ToList();
    }

    public async Task<long> ExecuteCountAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync(sql, cancellationToken);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<long> CountLoadRowsAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync($"select count(*) from {Quote(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    public async Task SetConstantsAsync(TableName table, long loadId, IReadOnlyList<ConstantColumn> constants, CancellationToken cancellationToken)
    {
        if (constants.Count == 0)
        {
            return;
        }

        var sets = string.Join(", ", constants.Select((c, i) => $"{SqlIdentifier.Quote(c.Name)} = @c{i.ToString(CultureInfo.InvariantCulture)}"));
        await using var command = await CommandAsync($"update {Quote(table)} set {sets} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        for (var i = 0; i < constants.Count; i++)
        {
            Add(command, "@c" + i.ToString(CultureInfo.InvariantCulture), ParameterValue(constants[i]));
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<long> ClaimPartitionAsync(string table, string partition, long loadId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Insert-if-missing first, so there is a row to lock: a concurrent first load of the same partition makes this
        // insert wait for its commit and then do nothing. The select then locks the row (PostgreSQL; SQLite's
        // transaction holds the database's write lock already) until this transaction ends.
        await using (var insert = await CommandAsync($"""
            insert into {SqlIdentifier.PartitionsTable} (table_name, partition_key, load_id, committed_at)
            values (@table, @partition, @load, @at)
            on conflict (table_name, partition_key) do nothing
            """, cancellationToken))
        {
            AddPartitionParameters(insert, table, partition, loadId, now);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var select = await CommandAsync($"select load_id from {SqlIdentifier.PartitionsTable} where table_name = @table and partition_key = @partition{LockRow}", cancellationToken);
        Add(select, "@table", table);
        Add(select, "@partition", partition);
        return Convert.ToInt64(await select.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    public async Task SetPartitionAsync(string table, string partition, long loadId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync($"update {SqlIdentifier.PartitionsTable} set load_id = @load, committed_at = @at where table_name = @table and partition_key = @partition", cancellationToken);
        AddPartitionParameters(command, table, partition, loadId, now);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<(long LoadId, long Rows)>> CountOtherLoadsAsync(TableName table, IReadOnlyList<ConstantColumn> where, long loadId, CancellationToken cancellationToken)
    {
        var loadIdColumn = SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn);
        await using var command = await OtherLoadsAsync($"select {loadIdColumn}, count(*) from {Quote(table)}", table, where, loadId, $" group by {loadIdColumn} order by {loadIdColumn}", cancellationToken);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var counts = new List<(long, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            counts.Add((Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)));
        }

        return counts;
    }

    public async Task<long> DeleteOtherLoadsAsync(TableName table, IReadOnlyList<ConstantColumn> where, long loadId, CancellationToken cancellationToken)
    {
        await using var command = await OtherLoadsAsync($"delete from {Quote(table)}", table, where, loadId, "", cancellationToken);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task RecordReplacedAsync(string table, ReplacedRows replaced, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Keyed by the replaced load: a load's rows are replaced whole, and the latest record tells where they went.
        await using var command = await CommandAsync($"""
            insert into {SqlIdentifier.ReplacedTable} (table_name, load_id, replaced_by, partition_key, rows_replaced, replaced_at)
            values (@table, @load, @by, @partition, @rows, @at)
            on conflict (table_name, load_id)
            do update set replaced_by = excluded.replaced_by, partition_key = excluded.partition_key, rows_replaced = excluded.rows_replaced, replaced_at = excluded.replaced_at
            """, cancellationToken);
        Add(command, "@table", table);
        Add(command, "@load", replaced.LoadId);
        Add(command, "@by", replaced.ReplacedBy);
        Add(command, "@partition", replaced.Partition);
        Add(command, "@rows", replaced.Rows);
        Add(command, "@at", now.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task ForgetReplacedAsync(string table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = await CommandAsync($"delete from {SqlIdentifier.ReplacedTable} where table_name = @table and load_id = @load", cancellationToken);
        Add(command, "@table", table);
        Add(command, "@load", loadId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>What the dialect appends to a select to lock the row it reads until the transaction ends.</summary>
    protected abstract string LockRow { get; }

    public abstract string Quote(TableName table);

    private async Task<DbCommand> OtherLoadsAsync(string head, TableName table, IReadOnlyList<ConstantColumn> where, long loadId, string tail, CancellationToken cancellationToken)
    {
        var conditions = string.Join(" and ", where.Select((c, i) => $"{SqlIdentifier.Quote(c.Name)} = @w{i.ToString(CultureInfo.InvariantCulture)}"));
        var command = await CommandAsync($"{head} where {conditions} and {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} <> @load{tail}", cancellationToken);
        for (var i = 0; i < where.Count; i++)
        {
            Add(command, "@w" + i.ToString(CultureInfo.InvariantCulture), ParameterValue(where[i]));
        }

        Add(command, "@load", loadId);
        return command;
    }

    private static void AddPartitionParameters(DbCommand command, string table, string partition, long loadId, DateTimeOffset now)
    {
        Add(command, "@table", table);
        Add(command, "@partition", partition);
        Add(command, "@load", loadId);
        Add(command, "@at", now.ToUniversalTime());
    }

    // PostgreSQL takes only UTC for timestamptz; SQLite writes the same text either way.
    private static object ParameterValue(ConstantColumn constant) => constant.Value is DateTimeOffset t ? t.ToUniversalTime() : constant.Value;

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
