using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Sqlite;

/// <summary>
/// The hot loop of a SQLite load: one execution of a prepared INSERT per row, inside the load's transaction
/// (SQLite's fast path: without the transaction every row would be a commit and an fsync).
/// </summary>
internal static class SqliteRowWriter
{
    private const int CancellationCheckInterval = 4096;

    public static async Task<long> WriteAllAsync(SqliteCommand insert, SqliteParameter[] parameters, CopyPlan plan, IRowSource source, CancellationToken cancellationToken)
    {
        var columns = plan.Columns.ToArray();
        var ordinals = plan.Ordinals.ToArray();
        var needed = plan.MaxOrdinal + 1;
        long read = 0;
        // Completes synchronously while the source has the row buffered: no task per row.
        while (await source.ReadAsync(cancellationToken))
        {
            read++;
            if (source.FieldCount < needed)
            {
                throw RowErrors.TooFewFields(source, needed);
            }

            for (var i = 0; i < columns.Length; i++)
            {
                var value = Cast(source, columns[i], source.GetString(ordinals[i]));
                parameters[i].Value = value;
            }

            // Synchronous on purpose: SQLite is an in-process library without asynchronous I/O, and
            // Microsoft.Data.Sqlite's ExecuteNonQueryAsync makes the same call and only adds a Task per row.
            insert.ExecuteNonQuery();
            if (read % CancellationCheckInterval == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return read;
    }

    /// <summary>
    /// The value to store. The parameters carry no declared type, so Microsoft.Data.Sqlite binds each value by
    /// its .NET type: integers and booleans as INTEGER, doubles as REAL, decimals as exact invariant text,
    /// dates and timestamps as ISO-8601 text (which SQLite's date functions read).
    /// </summary>
    private static object Cast(IRowSource source, TargetColumn column, string? value)
    {
        if (ValueCaster.IsNull(value, column.Type))
        {
            return column.Nullable ? DBNull.Value : throw RowErrors.NullNotAllowed(source, column);
        }

        var text = value!;
        return column.Type switch
        {
            ColumnType.Text => text,
            ColumnType.Integer => ValueCaster.TryInt32(text, out var i) ? (long)i : throw RowErrors.CannotCast(source, column, text),
            ColumnType.BigInt => ValueCaster.TryInt64(text, out var l) ? l : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Decimal => ValueCaster.TryDecimal(text, out var m) ? m : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Double => ValueCaster.TryDouble(text, out var d) ? d : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Boolean => ValueCaster.TryBoolean(text, out var b) ? b : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Date => ValueCaster.TryDate(text, out var date) ? date : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Timestamp => ValueCaster.TryTimestamp(text, out var ts) ? ts : throw RowErrors.CannotCast(source, column, text),
            ColumnType.TimestampTz => ValueCaster.TryTimestampTz(text, out var tz) ? new DateTimeOffset(tz) : throw RowErrors.CannotCast(source, column, text),
            ColumnType.Json => ValueCaster.IsJson(text) ? text : throw RowErrors.CannotCast(source, column, text),
            _ => throw new InvalidOperationException($"Unhandled column type {column.Type}."),
        };
    }
}
