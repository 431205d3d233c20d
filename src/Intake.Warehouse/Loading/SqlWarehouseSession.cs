using System.Data.Common;
using System.Globalization;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>The statements whose SQL and ADO.NET use are the same in both dialects (the merge's building blocks).</summary>
internal abstract class SqlWarehouseSession
{
    /// <summary>A command in this session's transaction.</summary>
    protected abstract DbCommand Command(string sql);

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<string>> DescribeQueryAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = Command($"select * from ({sql}) as q limit 0");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
    }

    public async Task<IReadOnlyList<string?>?> DescribeFirstRowAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(sql);
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
        await using var command = Command(sql);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<long> CountLoadRowsAsync(TableName table, long loadId, CancellationToken cancellationToken)
    {
        await using var command = Command($"select count(*) from {Quote(table)} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId.ToString(CultureInfo.InvariantCulture)}");
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    public async Task SetConstantsAsync(TableName table, long loadId, IReadOnlyList<ConstantColumn> constants, CancellationToken cancellationToken)
    {
        if (constants.Count == 0)
        {
            return;
        }

        var sets = string.Join(", ", constants.Select((c, i) => $"{SqlIdentifier.Quote(c.Name)} = @c{i.ToString(CultureInfo.InvariantCulture)}"));
        await using var command = Command($"update {Quote(table)} set {sets} where {SqlIdentifier.Quote(SqlIdentifier.LoadIdColumn)} = {loadId.ToString(CultureInfo.InvariantCulture)}");
        for (var i = 0; i < constants.Count; i++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@c" + i.ToString(CultureInfo.InvariantCulture);
            // PostgreSQL takes only UTC for timestamptz; SQLite writes the same text either way.
            parameter.Value = constants[i].Value is DateTimeOffset t ? t.ToUniversalTime() : constants[i].Value;
            command.Parameters.Add(parameter);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public abstract string Quote(TableName table);
}
