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
