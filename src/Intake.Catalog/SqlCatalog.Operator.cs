using System.Data;
using System.Data.Common;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// The aggregates of the operator UI and the metrics endpoint, read from the rollups migration 0010 keeps by trigger
/// (<c>intake_load_counts</c>, <c>intake_load_hours</c>, <c>intake_step_hours</c>) and from small partial indexes on
/// the errored loads, never from a GROUP BY over every load. Same rule as the rest of the class: one SQL text for both
/// databases.
/// </summary>
public abstract partial class SqlCatalog
{
    private static readonly string Errored = LoadStatus.Errored.ToWord();

    /// <summary><see cref="ICatalogQueries.RowsSteps"/> as SQL literals (constants, not input).</summary>
    private static readonly string RowsStepWords = string.Join(", ", ICatalogQueries.RowsSteps.Select(s => $"'{s}'"));

    public Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(CancellationToken cancellationToken) =>
        CountByPipelineAndStatusAsync(null, cancellationToken);

    public Task<IReadOnlyList<LoadCount>> CountByPipelineAndStatusAsync(string? customer, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var select = Command(connection, $"""
            SELECT pipeline, status, CAST(SUM(loads) AS BIGINT) FROM intake_load_counts
            {(customer is null ? "" : "WHERE customer = @customer")}
            GROUP BY pipeline, status HAVING SUM(loads) > 0
            """);
        AddCustomer(select, customer);
        // Ordered here, by ordinal: the database's collation may sort 'ready_for_archiving' before 'ready'.
        var counts = await QueryListAsync(select, r => new LoadCount(r.GetString(0), LoadStatusNames.Parse(r.GetString(1)), r.GetInt64(2)), cancellationToken);
        return (IReadOnlyList<LoadCount>)counts.OrderBy(c => c.Pipeline, StringComparer.Ordinal).ThenBy(c => c.Status.ToWord(), StringComparer.Ordinal).ToList();
    }, cancellationToken);

    public Task<IReadOnlyList<PipelineActivity>> GetPipelineActivityAsync(string? customer, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var now = Now();
        // One row per (pipeline, customer) that has loads; each figure is a probe of a primary key or a partial index.
        var select = Command(connection, $"""
            SELECT p.pipeline,
                   (SELECT h.last_created_at FROM intake_load_hours h
                    WHERE h.pipeline = p.pipeline AND h.customer = p.customer AND h.loads > 0 ORDER BY h.hour DESC LIMIT 1),
                   (SELECT CAST(COALESCE(SUM(s.rows_out), 0) AS BIGINT) FROM intake_step_hours s
                    WHERE s.pipeline = p.pipeline AND s.customer = p.customer AND s.step IN ({RowsStepWords}) AND s.hour >= @today),
                   (SELECT CAST(COALESCE(SUM(s.bytes_in), 0) AS BIGINT) FROM intake_step_hours s
                    WHERE s.pipeline = p.pipeline AND s.customer = p.customer AND s.step IN ({RowsStepWords}) AND s.hour >= @today),
                   (SELECT COUNT(*) FROM intake_loads l
                    WHERE l.status = '{Errored}' AND l.pipeline = p.pipeline AND l.customer = p.customer AND l.updated_at >= @day_ago)
            FROM (SELECT pipeline, customer FROM intake_load_counts{(customer is null ? "" : " WHERE customer = @customer")}
                  GROUP BY pipeline, customer HAVING SUM(loads) > 0) p
            """);
        AddCustomer(select, customer);
        AddTime(select, "@today", new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero));
        AddTime(select, "@day_ago", now - TimeSpan.FromHours(24));
        var rows = await QueryListAsync(select, r => new PipelineActivity(
            r.GetString(0), r.IsDBNull(1) ? null : GetTime(r, 1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4)), cancellationToken);

        // A pipeline whose loads belong to several customers: one row for all of them.
        return (IReadOnlyList<PipelineActivity>)rows
            .GroupBy(a => a.Pipeline, StringComparer.Ordinal)
            .Select(g => new PipelineActivity(g.Key, g.Max(a => a.LastLoadAt), g.Sum(a => a.RowsToday), g.Sum(a => a.BytesToday), g.Sum(a => a.ErrorsLast24Hours)))
            .OrderBy(a => a.Pipeline, StringComparer.Ordinal)
            .ToList();
    }, cancellationToken);

    public Task<IReadOnlyList<HourlyRows>> GetRowsPerHourAsync(string? customer, DateTimeOffset since, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        var start = since.ToUniversalTime();
        var select = Command(connection, $"""
            SELECT pipeline, hour, CAST(SUM(rows_out) AS BIGINT) FROM intake_step_hours
            WHERE step IN ({RowsStepWords}) AND hour >= @since{(customer is null ? "" : " AND customer = @customer")}
            GROUP BY pipeline, hour HAVING SUM(rows_out) > 0
            """);
        AddCustomer(select, customer);
        AddTime(select, "@since", new DateTimeOffset(start.Year, start.Month, start.Day, start.Hour, 0, 0, TimeSpan.Zero));
        var hours = await QueryListAsync(select, r => new HourlyRows(r.GetString(0), GetTime(r, 1), r.GetInt64(2)), cancellationToken);
        return (IReadOnlyList<HourlyRows>)hours.OrderBy(h => h.Pipeline, StringComparer.Ordinal).ThenBy(h => h.Hour).ToList();
    }, cancellationToken);

    public Task<IReadOnlyList<ErrorGroup>> GroupErroredLoadsAsync(string? customer, CancellationToken cancellationToken) => RunAsync(async connection =>
    {
        // The groups come from the counts; each group's oldest, newest and sample are probes of the errored loads'
        // partial index (pipeline, customer, error_kind, updated_at, id). Errored loads without a kind are counted
        // under '' and probed with IS NULL, so that both probes stay index range scans.
        var scope = customer is null ? "" : " AND c.customer = @customer";
        var select = Command(connection, $"""
            {GroupSql("l.error_kind = c.error_kind", "c.error_kind <> ''")}{scope}
            UNION ALL
            {GroupSql("l.error_kind IS NULL", "c.error_kind = ''")}{scope}
            """);
        AddCustomer(select, customer);
        var rows = await QueryListAsync(select, r => (
            Pipeline: r.GetString(0),
            Kind: r.GetString(1),
            Loads: r.GetInt64(2),
            Oldest: GetTime(r, 3),
            Newest: GetTime(r, 4),
            SampleId: r.GetInt64(5),
            Message: StringOrNull(r, 6)), cancellationToken);

        // One group per pipeline and kind, whatever customers its loads belong to; the sample is the newest of all.
        return (IReadOnlyList<ErrorGroup>)rows
            .GroupBy(g => (g.Pipeline, g.Kind))
            .Select(g =>
            {
                var newest = g.OrderByDescending(x => x.Newest).ThenByDescending(x => x.SampleId).First();
                return new ErrorGroup(g.Key.Pipeline, ParseKind(g.Key.Kind), g.Sum(x => x.Loads), g.Min(x => x.Oldest), newest.Newest, newest.SampleId, newest.Message);
            })
            .OrderBy(g => g.Pipeline, StringComparer.Ordinal)
            .ThenBy(g => g.Kind?.ToWord() ?? "", StringComparer.Ordinal)
            .ToList();

        static string GroupSql(string kindMatch, string groups)
        {
            var probe = $"FROM intake_loads l WHERE l.status = '{Errored}' AND l.pipeline = c.pipeline AND l.customer = c.customer AND {kindMatch}";
            return $"""
                SELECT c.pipeline, c.error_kind, c.loads,
                       (SELECT l.updated_at {probe} ORDER BY l.updated_at, l.id LIMIT 1),
                       (SELECT l.updated_at {probe} ORDER BY l.updated_at DESC, l.id DESC LIMIT 1),
                       (SELECT l.id {probe} ORDER BY l.updated_at DESC, l.id DESC LIMIT 1),
                       (SELECT l.error_message {probe} ORDER BY l.updated_at DESC, l.id DESC LIMIT 1)
                FROM (SELECT pipeline, customer, error_kind, SUM(loads) AS loads FROM intake_load_counts WHERE status = '{Errored}'
                      GROUP BY pipeline, customer, error_kind HAVING SUM(loads) > 0) c
                WHERE {groups}
                """;
        }
    }, cancellationToken);

    private static ErrorKind? ParseKind(string word) =>
        word.Length == 0 ? null
        : ErrorKindNames.TryParse(word, out var kind) ? kind
        : throw new InvalidDataException($"unknown error kind '{word}' in the catalog");

    private static void AddCustomer(DbCommand command, string? customer)
    {
        if (customer is not null)
        {
            Add(command, "@customer", customer, DbType.String);
        }
    }
}
