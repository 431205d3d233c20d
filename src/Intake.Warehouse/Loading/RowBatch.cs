using System.Threading.Channels;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// A run of consecutive rows copied out of a source, so that the reader can parse the next ones while encoders cast
/// these: every value's characters in one array, and each row's row and line numbers, so an error found by an
/// encoder names the same row and line as it would with one stream.
/// </summary>
internal sealed class RowBatch
{
    // A batch is handed over whole; about 256K characters (half a megabyte) keeps the hand-over cost per row
    // negligible while a queue of a few batches per encoder stays a few megabytes, whatever the file's size.
    public const int TargetChars = 256 * 1024;
    public const int MaxRows = 4096;

    private char[] _chars = new char[TargetChars];
    private int _charCount;
    // Per field: its start in _chars and its length, -1 for null (an empty unquoted field).
    private int[] _starts = new int[MaxRows * 8];
    private int[] _lengths = new int[MaxRows * 8];
    private int _fieldCount;
    private readonly int[] _rowFirstField = new int[MaxRows + 1];
    private readonly long[] _rowNumbers = new long[MaxRows];
    private readonly long[] _lineNumbers = new long[MaxRows];

    public int Count { get; private set; }

    public long FirstRowNumber => Count == 0 ? 0 : _rowNumbers[0];

    public bool IsFull => Count == MaxRows || _charCount >= TargetChars;

    /// <summary>Empties the batch for reuse: the arrays stay, so a load allocates a few batches, not one per 4,096 rows.</summary>
    public void Clear()
    {
        Count = 0;
        _charCount = 0;
        _fieldCount = 0;
    }

    /// <summary>Copies the source's current row.</summary>
    public void Add(IRowSource source)
    {
        var fields = source.FieldCount;
        if (_fieldCount + fields > _starts.Length)
        {
            Array.Resize(ref _starts, Math.Max(_starts.Length * 2, _fieldCount + fields));
            Array.Resize(ref _lengths, _starts.Length);
        }

        _rowFirstField[Count] = _fieldCount;
        _rowNumbers[Count] = source.RowNumber;
        _lineNumbers[Count] = source.LineNumber;
        for (var i = 0; i < fields; i++)
        {
            var value = source.GetSpan(i, out var isNull);
            _starts[_fieldCount] = _charCount;
            if (isNull)
            {
                _lengths[_fieldCount++] = -1;
                continue;
            }

            if (_charCount + value.Length > _chars.Length)
            {
                // A row wider than the room left: the batch grows (bounded by the widest row, as the reader's buffer is).
                Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _charCount + value.Length));
            }

            value.CopyTo(_chars.AsSpan(_charCount));
            _charCount += value.Length;
            _lengths[_fieldCount++] = value.Length;
        }

        Count++;
        _rowFirstField[Count] = _fieldCount;
    }

    public int FieldCount(int row) => _rowFirstField[row + 1] - _rowFirstField[row];

    public long RowNumber(int row) => _rowNumbers[row];

    public long LineNumber(int row) => _lineNumbers[row];

    public ReadOnlySpan<char> Field(int row, int ordinal, out bool isNull)
    {
        var f = _rowFirstField[row] + ordinal;
        var length = _lengths[f];
        isNull = length < 0;
        return isNull ? default : _chars.AsSpan(_starts[f], length);
    }
}

/// <summary>
/// The rows of the batches an encoder takes from the reader's queue, as a row source, so the encoder is the same
/// <c>PgBinaryCopyWriter</c> loop as with one stream. Stops at the end of the queue or, once a row of the file is
/// known to be bad, at the first batch that starts after it: those rows cannot change the load's outcome.
/// </summary>
internal sealed class BatchRowSource(string sourceName, IReadOnlyList<string> columns, ChannelReader<RowBatch> batches, Func<long> stopAfterRow, Action<RowBatch> recycle) : IRowSource
{
    private RowBatch? _batch;
    private int _row = -1;

    public string SourceName => sourceName;

    public IReadOnlyList<string> Columns => columns;

    public int FieldCount => _batch!.FieldCount(_row);

    public long RowNumber => _batch?.RowNumber(_row) ?? 0;

    public long LineNumber => _batch?.LineNumber(_row) ?? 0;

    public long Rows { get; private set; }

    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        if (_batch is not null && _row + 1 < _batch.Count)
        {
            _row++;
            Rows++;
            return true;
        }

        if (_batch is not null)
        {
            recycle(_batch);
            _batch = null;
        }

        while (true)
        {
            // Waiting in ReadAsync, not WaitToReadAsync: the queue hands each batch to the encoder that has waited
            // longest. WaitToReadAsync woke every waiting encoder for each batch, and the one woken last (the one that
            // had just finished a batch, first off its thread's queue) took it: on 2 cores one stream took them all.
            if (!batches.TryRead(out var next))
            {
                try
                {
                    next = await batches.ReadAsync(cancellationToken);
                }
                catch (ChannelClosedException)
                {
                    return false;
                }
            }

            if (next.FirstRowNumber > stopAfterRow())
            {
                recycle(next);
                continue; // after a known bad row: not needed, drained so the reader is never blocked
            }

            _batch = next;
            _row = 0;
            Rows++;
            return true;
        }
    }

    public string? GetString(int ordinal)
    {
        var value = _batch!.Field(_row, ordinal, out var isNull);
        return isNull ? null : value.ToString();
    }

    public ReadOnlySpan<char> GetSpan(int ordinal, out bool isNull) => _batch!.Field(_row, ordinal, out isNull);

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
