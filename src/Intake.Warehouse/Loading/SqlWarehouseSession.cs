using System.Data.Common;
using System.Globalization;

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

    public abstract string Quote(TableName table);
}
