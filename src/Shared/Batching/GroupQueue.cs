namespace Intake.Shared.Batching;

/// <summary>
/// Work that concurrent callers of one process hand over, done in groups by one runner at a time: what is handed over
/// while a group is under way waits for it, then goes in the next group. A single item goes at once, alone: nothing
/// waits for a group to fill. The catalog's stage ends and claims and the warehouse's small loads use it.
/// </summary>
/// <typeparam name="T">An item; it carries its own answer (a task completion source) for its caller to wait on.</typeparam>
/// <param name="run">Does one group and answers every item in it, also when it fails: an item left unanswered would
/// keep its caller waiting. Not cancelled by any one caller: the others' items are in the same group.</param>
/// <param name="maxGroup">The most items one group takes; the rest wait for the next.</param>
internal sealed class GroupQueue<T>(Func<List<T>, Task> run, int maxGroup)
{
    private readonly Lock _gate = new();
    private List<T> _queued = [];
    private bool _running;

    /// <summary>Queues the item, and starts a runner when none is running (it goes on by itself; the caller waits for its own answer only).</summary>
    public void Add(T item)
    {
        bool lead;
        lock (_gate)
        {
            _queued.Add(item);
            lead = !_running;
            _running = true;
        }

        if (lead)
        {
            _ = RunQueuedAsync();
        }
    }

    /// <summary>Runs what is queued, group after group, until nothing is left.</summary>
    private async Task RunQueuedAsync()
    {
        while (true)
        {
            List<T> group;
            lock (_gate)
            {
                if (_queued.Count == 0)
                {
                    _running = false;
                    return;
                }

                if (_queued.Count <= maxGroup)
                {
                    group = _queued;
                    _queued = [];
                }
                else
                {
                    group = _queued[..maxGroup];
                    _queued.RemoveRange(0, maxGroup);
                }
            }

            await run(group);
        }
    }
}
