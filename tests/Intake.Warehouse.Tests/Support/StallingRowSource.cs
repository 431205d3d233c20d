using Intake.Core.Ports;

namespace Intake.Warehouse.Tests.Support;

/// <summary>
/// A source whose input stops coming after some rows, as a stream from a stalled network does: the next read waits
/// until it is cancelled. <see cref="Stalled"/> completes once the warehouse is waiting on it.
/// </summary>
public sealed class StallingRowSource(ListRowSource rows, long stallAfter) : IRowSource
{
    public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string SourceName => rows.SourceName;

    public IReadOnlyList<string> Columns => rows.Columns;

    public int FieldCount => rows.FieldCount;

    public long RowNumber => rows.RowNumber;

    public long LineNumber => rows.LineNumber;

    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        if (rows.RowNumber == stallAfter)
        {
            Stalled.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }

        return await rows.ReadAsync(cancellationToken);
    }

    public string? GetString(int ordinal) => rows.GetString(ordinal);

    public void Dispose() => rows.Dispose();

    public ValueTask DisposeAsync() => rows.DisposeAsync();
}
