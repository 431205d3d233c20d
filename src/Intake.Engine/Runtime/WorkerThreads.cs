namespace Intake.Engine.Runtime;

/// <summary>
/// Threads for loads in flight. A load's catalog and warehouse calls on SQLite, and every fsync of a local store,
/// block the thread they run on (the drivers have no truly asynchronous I/O); with the thread pool's usual minimum (one
/// thread per core) a second load in flight waits for a blocked thread, or for the pool to notice and add one, which
/// takes it half a second each time. Each load in flight (a worker's, or each of a small-load worker's batch) gets a
/// thread of its own, on top of one per core for the rest.
/// </summary>
public static class WorkerThreads
{
    /// <summary>Raises the thread pool's minimum so that <paramref name="loads"/> loads can each block a thread at once; never lowers it.</summary>
    public static void Reserve(int loads)
    {
        ThreadPool.GetMinThreads(out var threads, out var io);
        var wanted = Math.Max(1, loads) + Environment.ProcessorCount;
        if (threads < wanted)
        {
            ThreadPool.SetMinThreads(wanted, io);
        }
    }
}
