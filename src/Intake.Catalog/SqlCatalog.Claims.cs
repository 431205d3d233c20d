using System.Data;
using System.Data.Common;
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
            var picks = new List<string>();
            var statuses = new List<string>();
            var moves = new List<string>();
            for (var i = 0; i < checkedClaim.Order.Count; i++)
            {
                Add(claim, $"@waiting{i}", checkedClaim.Order[i].ToWord(), DbType.String);
                Add(claim, $"@working{i}", LoadStateMachine.WorkingStatusFor(checkedClaim.Order[i]).ToWord(), DbType.String);
                picks.Add($"SELECT pick_id FROM (SELECT id AS pick_id FROM intake_loads WHERE status = @waiting{i}{filter} ORDER BY id LIMIT @count {ClaimRowLock}) p{i}");
                statuses.Add($"@waiting{i}");
                moves.Add($"WHEN @waiting{i} THEN @working{i}");
            }

            // The statuses' picks are appended in order and read only until the count is reached, so a later status's
            // loads are looked at (and locked) only when the ones before it left room.
            claim.CommandText = $"""
                WITH picked AS (SELECT pick_id FROM ({string.Join(" UNION ALL ", picks)}) c LIMIT @count)
                UPDATE intake_loads SET
                    status = CASE status {string.Join(" ", moves)} END,
                    lease_owner = @worker,
                    lease_expires_at = @expires,
                    attempts = attempts + CASE WHEN status = @ready THEN 1 ELSE 0 END,
                    updated_at = @now
                WHERE id IN (SELECT pick_id FROM picked) AND status IN ({string.Join(", ", statuses)})
                RETURNING {LoadColumns}, EXISTS (SELECT 1 FROM intake_steps s WHERE s.load_id = intake_loads.id)
                """;
            var now = Now();
            Add(claim, "@count", Math.Min(count, MaxClaimed), DbType.Int32);
            Add(claim, "@worker", request.Worker, DbType.String);
            Add(claim, "@ready", LoadStatus.Ready.ToWord(), DbType.String);
            AddTime(claim, "@expires", now + request.Lease);
            AddTime(claim, "@now", now);
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
