using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Warehouse.Loading;
using Parquet;
using Parquet.Schema;

namespace Intake.Warehouse.Lake;

/// <summary>What one lake file holds.</summary>
/// <param name="Rows">Rows written.</param>
/// <param name="RowGroups">Row groups written (each at most the requested number of rows).</param>
/// <param name="Columns">The file's columns, as written.</param>
public sealed record LakeFileResult(long Rows, int RowGroups, IReadOnlyList<ColumnSpec> Columns);

/// <summary>
/// Writes rows as one Parquet file for a lake (a store area that query engines read as a table): the column types are the
/// table's declaration (text when undeclared, named by the first file's header), values cast exactly as the warehouse
/// casts them, so the lake and the warehouse agree on every value.
/// </summary>
/// <remarks>
/// Memory is one row group, whatever the size of the input: rows are cast into per-column buffers of
/// <c>rowGroupRows</c> values, and each full buffer is written out and reused. Parquet keeps its index (the footer) at
/// the end, after the row groups, so the output must be seekable: a temporary file, which the caller then publishes
/// under its key in one atomic put. Types: integer int32, bigint int64, decimal decimal(38,18) (any value a CSV holds
/// with up to 20 digits before the point and 18 after), double, boolean, date, timestamp in microseconds (timestamptz
/// adjusted to UTC, timestamp not), text and json as UTF-8 strings.
/// </remarks>
public static class ParquetLake
{
    /// <summary>Decimal columns: the widest precision the query engines read as a decimal, with room for both sides of the point.</summary>
    public const int DecimalPrecision = 38;

    public const int DecimalScale = 18;

    /// <summary>Writes every row of <paramref name="sources"/>, in order, as one Parquet file to <paramref name="output"/>.</summary>
    /// <param name="output">Writable and seekable (a temporary file).</param>
    /// <param name="sources">The load's data files; each is read to its end before the next is asked for.</param>
    /// <param name="declared">The table's declared columns; null for text columns named by the first file's header.</param>
    /// <param name="rowGroupRows">Rows per row group: what is held in memory at once.</param>
    /// <param name="cancellationToken">Stops the write.</param>
    /// <exception cref="IntakeException">Schema: a value that cannot be cast, an empty value in a column that is not nullable, or a column the table does not have.</exception>
    public static async Task<LakeFileResult> WriteAsync(
        Stream output, IAsyncEnumerable<IRowSource> sources, IReadOnlyList<ColumnSpec>? declared, int rowGroupRows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowGroupRows, 1);

        IReadOnlyList<ColumnSpec>? columns = declared;
        ParquetWriter? writer = null;
        Buffer[]? buffers = null;
        long rows = 0;
        var groups = 0;
        try
        {
            await foreach (var source in sources.WithCancellation(cancellationToken))
            {
                await using var _ = source;
                if (writer is null)
                {
                    if (source.Columns.Count == 0 && declared is null)
                    {
                        throw IntakeException.Format($"Source '{source.SourceName}' has no header: a lake file needs column names (or declare load.columns).");
                    }

                    columns ??= [.. source.Columns.Select(name => new ColumnSpec(name, ColumnType.Text))];
                    buffers = [.. columns.Select(c => Buffer.For(c, rowGroupRows))];
                    writer = await ParquetWriter.CreateAsync(new ParquetSchema(buffers.Select(b => b.Field)), output, cancellationToken: cancellationToken);
                }

                var ordinals = Map(source, columns!, fromHeader: declared is null);
                while (await source.ReadAsync(cancellationToken))
                {
                    for (var i = 0; i < buffers!.Length; i++)
                    {
                        var ordinal = ordinals[i];
                        if (ordinal >= source.FieldCount)
                        {
                            throw RowErrors.TooFewFields(source, ordinal + 1);
                        }

                        var missing = ordinal < 0;
                        var value = missing ? default : source.GetSpan(ordinal, out missing);
                        buffers[i].Add(source, value, missing);
                    }

                    rows++;
                    if (buffers!.Length > 0 && buffers[0].Count == rowGroupRows)
                    {
                        await FlushAsync(writer, buffers, cancellationToken);
                        groups++;
                    }
                }
            }

            if (writer is null)
            {
                // No data file at all: the caller's data set reports that; here a file without rows still has to be valid.
                columns ??= [];
                buffers = [.. columns.Select(c => Buffer.For(c, 1))];
                writer = await ParquetWriter.CreateAsync(new ParquetSchema(buffers.Select(b => b.Field)), output, cancellationToken: cancellationToken);
            }

            if (buffers!.Length > 0 && buffers[0].Count > 0)
            {
                await FlushAsync(writer, buffers, cancellationToken);
                groups++;
            }
        }
        finally
        {
            if (writer is not null)
            {
                await writer.DisposeAsync(); // writes the footer
            }
        }

        return new LakeFileResult(rows, groups, columns ?? []);
    }

    private static async Task FlushAsync(ParquetWriter writer, Buffer[] buffers, CancellationToken cancellationToken)
    {
        using var group = writer.CreateRowGroup();
        foreach (var buffer in buffers)
        {
            await buffer.WriteAsync(group, cancellationToken);
        }

        group.CompleteValidate();
    }

    /// <summary>Each column's field ordinal in this source (-1: the file lacks it, so it is null), by name without case as the warehouse maps them.</summary>
    private static int[] Map(IRowSource source, IReadOnlyList<ColumnSpec> columns, bool fromHeader)
    {
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < source.Columns.Count; i++)
        {
            byName.TryAdd(source.Columns[i], i);
        }

        var known = new HashSet<string>(columns.Select(c => c.Name), StringComparer.OrdinalIgnoreCase);
        var extra = source.Columns.Where(c => !known.Contains(c)).ToList();
        if (extra.Count > 0)
        {
            throw IntakeException.Schema(fromHeader
                ? $"Source '{source.SourceName}' has columns that the first data file of the load lacks: {Names(extra)}; a lake file has one set of columns."
                : $"Source '{source.SourceName}' has columns that are not declared (load.columns): {Names(extra)}.");
        }

        var ordinals = new int[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            ordinals[i] = byName.TryGetValue(columns[i].Name, out var at) ? at : -1;
            if (ordinals[i] < 0 && !columns[i].Nullable)
            {
                throw IntakeException.Schema($"Source '{source.SourceName}' lacks the column '{ValueText.Truncate(columns[i].Name)}', which is declared not null.");
            }
        }

        return ordinals;
    }

    private static string Names(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{ValueText.Truncate(n)}'"));

    /// <summary>One column's values of the current row group, cast as they are read.</summary>
    private abstract class Buffer(ColumnSpec column)
    {
        private readonly TargetColumn _target = new(column.Name, column.Type, null, column.Nullable, HasDefault: false);

        public abstract DataField Field { get; }

        public int Count { get; protected set; }

        public static Buffer For(ColumnSpec c, int size) => c.Type switch
        {
            ColumnType.Integer => new Values<int>(c, size, new DataField<int?>(c.Name), ValueCaster.TryInt32),
            ColumnType.BigInt => new Values<long>(c, size, new DataField<long?>(c.Name), ValueCaster.TryInt64),
            ColumnType.Decimal => new Values<decimal>(c, size, new DecimalDataField(c.Name, DecimalPrecision, DecimalScale, isNullable: true), ValueCaster.TryDecimal),
            ColumnType.Double => new Values<double>(c, size, new DataField<double?>(c.Name), ValueCaster.TryDouble),
            ColumnType.Boolean => new Values<bool>(c, size, new DataField<bool?>(c.Name), ValueCaster.TryBoolean),
            ColumnType.Date => new Values<DateTime>(c, size, new DateTimeDataField(c.Name, DateTimeFormat.Date, isNullable: true), TryDate),
            ColumnType.Timestamp => new Values<DateTime>(c, size, new DateTimeDataField(c.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: false, unit: DateTimeTimeUnit.Micros, isNullable: true), ValueCaster.TryTimestamp),
            ColumnType.TimestampTz => new Values<DateTime>(c, size, new DateTimeDataField(c.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true), ValueCaster.TryTimestampTz),
            ColumnType.Json => new Texts(c, size, json: true),
            _ => new Texts(c, size, json: false),
        };

        public void Add(IRowSource source, ReadOnlySpan<char> value, bool missing)
        {
            if (ValueCaster.IsNull(value, missing, column.Type))
            {
                if (!column.Nullable)
                {
                    throw RowErrors.NullNotAllowed(source, _target);
                }

                AddNull();
            }
            else if (!TryAdd(value))
            {
                throw RowErrors.CannotCast(source, _target, value.ToString());
            }

            Count++;
        }

        protected abstract void AddNull();

        protected abstract bool TryAdd(ReadOnlySpan<char> value);

        public abstract Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken);

        private static bool TryDate(ReadOnlySpan<char> value, out DateTime result)
        {
            var ok = ValueCaster.TryDate(value, out var date);
            result = ok ? date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc) : default;
            return ok;
        }
    }

    private delegate bool Cast<T>(ReadOnlySpan<char> value, out T result);

    private sealed class Values<T>(ColumnSpec column, int size, DataField dataField, Cast<T> cast) : Buffer(column)
        where T : struct
    {
        private readonly T?[] _values = new T?[size];

        public override DataField Field => dataField;

        protected override void AddNull() => _values[Count] = null;

        protected override bool TryAdd(ReadOnlySpan<char> value)
        {
            if (!cast(value, out var result))
            {
                return false;
            }

            _values[Count] = result;
            return true;
        }

        public override async Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken)
        {
            await group.WriteAsync<T>(dataField, _values.AsMemory(0, Count), null, null, cancellationToken);
            Count = 0;
        }
    }

    private sealed class Texts(ColumnSpec column, int size, bool json) : Buffer(column)
    {
        private readonly string?[] _values = new string?[size];
        private readonly DataField _field = new DataField<string>(column.Name, nullable: true);

        public override DataField Field => _field;

        protected override void AddNull() => _values[Count] = null;

        protected override bool TryAdd(ReadOnlySpan<char> value)
        {
            if (json && !ValueCaster.IsJson(value))
            {
                return false;
            }

            _values[Count] = value.ToString();
            return true;
        }

        public override async Task WriteAsync(ParquetRowGroupWriter group, CancellationToken cancellationToken)
        {
            await group.WriteAsync(_field, new ArraySegment<string>(_values!, 0, Count), null);
            Count = 0;
        }
    }
}
