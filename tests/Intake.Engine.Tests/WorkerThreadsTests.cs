using Intake.Engine.Runtime;

namespace Intake.Engine.Tests;

public sealed class WorkerThreadsTests
{
    [Fact]
    public void Reserve_GivesEachLoadInFlightAThreadOnTopOfOnePerCore_AndNeverLowersTheMinimum()
    {
        ThreadPool.GetMinThreads(out var before, out var io);

        WorkerThreads.Reserve(before + 3);
        ThreadPool.GetMinThreads(out var raised, out var ioAfter);
        raised.ShouldBe(before + 3 + Environment.ProcessorCount);
        ioAfter.ShouldBe(io); // the I/O completion threads are left as they were

        WorkerThreads.Reserve(1);
        ThreadPool.GetMinThreads(out var after, out _);
        after.ShouldBe(raised);
    }
}

public sealed class RunnerThreadsTests
{
    [Fact]
    public async Task Run_ReservesAThreadForEveryLoadOfEverySmallLoadWorkersBatch()
    {
        // 1 worker and 16 small-load workers of 8 loads each: 129 loads can block a thread at once. Far above what any
        // other test reserves (the minimum only ever rises in this process), so a reservation per worker (17) shows.
        await using var project = new EmbeddedProject("intake-threads-");
        File.AppendAllText(project.ConfigPath, "\n  small_load_workers: 16\n  small_load_batch: 8\n");
        project.Pipeline("p", """
            name: p
            source: { kind: local, path: ../in, stable_for: 0s }
            steps: [fetch, load]
            load: { table: rows }
            """);
        await using var runtime = await project.OpenAsync();

        await new Runner(runtime).RunAsync(new RunOptions { Once = true, Workers = 1 }, default);

        ThreadPool.GetMinThreads(out var threads, out _);
        threads.ShouldBeGreaterThanOrEqualTo(1 + (16 * 8) + Environment.ProcessorCount);
    }
}
