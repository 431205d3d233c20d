using System.Data;
using Intake.Core.Model;

namespace Intake.Catalog;

/// <summary>Claims of several loads at once for one worker (<see cref="Core.Ports.ICatalog.ClaimSomeWithHistoryAsync"/>).</summary>
public abstract partial class SqlCatalog
{
    /// <summary>The most loads one claim takes.</summary>
    private const int MaxClaimed = 64;

    /// <summary>
    /// Up to <paramref name="count"/> loads in one statement: the oldest of the first status in the claim's order that has
    /// any, then the next status's, each locked as the single claim locks its one (<see cref="ClaimRowLock"/>), all moved
    /// to their working status under the worker's lease. The claimed loads' steps are read on the same connection, for
    /// those that have any.
    /// </summary>
    public Task<IReadOnlyList<ClaimedLoad>> ClaimSomeWithHistoryAsync(ClaimRequest request, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var checkedClaim = Checked(request, withHistory: true);
        if (checkedClaim.Pipelines is { Length: 0 })
        {
            return Task.FromResult<IReadOnlyList<ClaimedLoad>>([]);
        }

        return RunRelaxedAsync(async connection =>
        {
            if (count == 1)
            {
                return await ClaimOneAsync(connection, checkedClaim, cancellationToken) is { } one ? [one] : (IReadOnlyList<ClaimedLoad>)[];
            }

            var claim = Command(connection, "");
            var filter = ClaimFilter(claim, checkedClaim.Pipelines, request.MaxSourceSize);
            Add(claim, "@count", Math.Min(count, MaxClaimed), DbType.Int32);
            // The statuses' picks are appended in order and read only until the count is reached, so a later status's
            // loads are looked at (and locked) only when the ones before it left room.
            claim.CommandText = ClaimUpdate(claim, checkedClaim.Order, request, withHistory: true, waiting =>
            {
                var picks = waiting.Select((w, i) =>
                    $"SELECT pick_id FROM (SELECT id AS pick_id FROM intake_loads WHERE status = {w}{filter} ORDER BY id LIMIT @count {ClaimRowLock}) p{i}");
                return ($"WITH picked AS (SELECT pick_id FROM ({string.Join(" UNION ALL ", picks)}) c LIMIT @count)\n", "id IN (SELECT pick_id FROM picked)");
            });
            var rows = await QueryListAsync(claim, r => new ClaimRow(ReadLoad(r), r.GetBoolean(r.FieldCount - 1)), cancellationToken);
            var claimed = new List<ClaimedLoad>(rows.Count);
            foreach (var row in rows.OrderBy(r => r.Load.Id))
            {
                claimed.Add(new ClaimedLoad(row.Load, row.HasSteps ? await ReadStepsAsync(connection, row.Load.Id, cancellationToken) : []));
            }

            return (IReadOnlyList<ClaimedLoad>)claimed;
        }, cancellationToken);
    }
}
