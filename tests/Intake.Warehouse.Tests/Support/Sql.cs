using System.Data.Common;

namespace Intake.Warehouse.Tests.Support;

/// <summary>Raw SQL on a connection of the test's own, beside the warehouse under test.</summary>
internal static class Sql
{
    /// <summary>The first column of the first row, read as <typeparamref name="T"/>; default for NULL or no row. Disposes <paramref name="connection"/>.</summary>
    public static async Task<T?> ScalarAsync<T>(DbConnection connection, string sql)
    {
        await using (connection)
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await using var reader = await command.ExecuteReaderAsync();
            return await reader.ReadAsync() && !reader.IsDBNull(0) ? reader.GetFieldValue<T>(0) : default;
        }
    }

    /// <summary>Every row, each value as invariant text (null for NULL). Disposes <paramref name="connection"/>.</summary>
    public static async Task<List<string?[]>> RowsAsync(DbConnection connection, string sql)
    {
        await using (connection)
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string?[]>();
            while (await reader.ReadAsync())
            {
                rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))]);
            }

            return rows;
        }
    }

    /// <summary>Runs a statement. Disposes <paramref name="connection"/>.</summary>
    public static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using (connection)
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await command.ExecuteNonQueryAsync();
        }
    }
}
