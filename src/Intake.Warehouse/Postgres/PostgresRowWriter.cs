using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Npgsql;
using NpgsqlTypes;

namespace Intake.Warehouse.Postgres;

/// <summary>
/// The hot loop of a PostgreSQL load: one binary COPY row per source row, each value cast to its column's
/// type. Writes are synchronous: they only block when Npgsql's buffer is full and goes to the socket, and an
/// awaited write per value costs more than the copy itself. Nothing is allocated per row beyond the values.
/// </summary>
internal static class PostgresRowWriter
{
    // How often the loop looks at the cancellation token: cheap enough, and well under a second of rows.
    private const int CancellationCheckInterval = 4096;

    public static long WriteAll(NpgsqlBinaryImporter importer, CopyPlan plan, IRowSource source, long loadId, CancellationToken cancellationToken)
    {
        var count = plan.Columns.Count;
        var columns = new TargetColumn[count];
        var ordinals = new int[count];
        var wireTypes = new NpgsqlDbType[count];
        for (var i = 0; i < count; i++)
        {
            columns[i] = plan.Columns[i];
            ordinals[i] = plan.Ordinals[i];
            wireTypes[i] = WireType(columns[i]);
        }

        var needed = plan.MaxOrdinal + 1;
        long read = 0;
        while (source.Read())
        {
            read++;
            if (source.FieldCount < needed)
            {
                throw RowErrors.TooFewFields(source, needed);
            }

            importer.StartRow();
            for (var i = 0; i < count; i++)
            {
                var value = source.GetString(ordinals[i]);
                var column = columns[i];
                if (column.Type == ColumnType.Text && value is not null)
                {
                    // The common case (every column of a table made from a CSV header) goes straight through.
                    importer.Write(value, wireTypes[i]);
                }
                else
                {
                    WriteTyped(importer, source, column, wireTypes[i], value);
                }
            }

            importer.Write(loadId, NpgsqlDbType.Bigint);
            if (read % CancellationCheckInterval == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return read;
    }

    private static void WriteTyped(NpgsqlBinaryImporter importer, IRowSource source, TargetColumn column, NpgsqlDbType wireType, string? value)
    {
        if (ValueCaster.IsNull(value, column.Type))
        {
            if (!column.Nullable)
            {
                throw RowErrors.NullNotAllowed(source, column);
            }

            importer.WriteNull();
            return;
        }

        var text = value!;
        switch (column.Type)
        {
            case ColumnType.Text:
                importer.Write(text, wireType);
                break;
            case ColumnType.Integer:
                importer.Write(ValueCaster.TryInt32(text, out var i) ? i : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.BigInt:
                importer.Write(ValueCaster.TryInt64(text, out var l) ? l : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Decimal:
                importer.Write(ValueCaster.TryDecimal(text, out var m) ? m : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Double:
                importer.Write(ValueCaster.TryDouble(text, out var d) ? d : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Boolean:
                importer.Write(ValueCaster.TryBoolean(text, out var b) ? b : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Date:
                importer.Write(ValueCaster.TryDate(text, out var date) ? date : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Timestamp:
                importer.Write(ValueCaster.TryTimestamp(text, out var ts) ? ts : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.TimestampTz:
                importer.Write(ValueCaster.TryTimestampTz(text, out var tz) ? tz : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            case ColumnType.Json:
                importer.Write(ValueCaster.IsJson(text) ? text : throw RowErrors.CannotCast(source, column, text), wireType);
                break;
            default:
                throw new InvalidOperationException($"Unhandled column type {column.Type}.");
        }
    }

    /// <summary>The binary format PostgreSQL expects for the column; json and jsonb differ (jsonb has a version byte).</summary>
    private static NpgsqlDbType WireType(TargetColumn column) => column.Type switch
    {
        ColumnType.Text => NpgsqlDbType.Text,
        ColumnType.Integer => NpgsqlDbType.Integer,
        ColumnType.BigInt => NpgsqlDbType.Bigint,
        ColumnType.Decimal => NpgsqlDbType.Numeric,
        ColumnType.Double => NpgsqlDbType.Double,
        ColumnType.Boolean => NpgsqlDbType.Boolean,
        ColumnType.Date => NpgsqlDbType.Date,
        ColumnType.Timestamp => NpgsqlDbType.Timestamp,
        ColumnType.TimestampTz => NpgsqlDbType.TimestampTz,
        ColumnType.Json => column.StoreType == "json" ? NpgsqlDbType.Json : NpgsqlDbType.Jsonb,
        _ => throw new InvalidOperationException($"Unhandled column type {column.Type}."),
    };
}
