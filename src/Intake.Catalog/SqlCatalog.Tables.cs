using System.Data;
using System.Data.Common;
using Intake.Core.Model;
using Intake.Core.Ports;

namespace Intake.Catalog;

/// <summary>
/// The registry of source tables (<see cref="ITableStore"/>): one row per (pipeline, name), and the loads that name
/// it in <c>intake_loads.table_name</c>. Same rule as the rest of the class: one SQL text for both databases.
/// </summary>
public abstract partial class SqlCatalog : ITableStore
{
    private const string TableColumns = "id, pipeline, name, prefix, first_seen_at";

    public Task<TableRegistration> RegisterTableAsync(string pipeline, string name, string prefix, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pipeline);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(prefix);

        return RunAsync(async connection =>
        {
            // Race-safe like RegisterLoadAsync: ON CONFLICT DO NOTHING never fails when another discovery registers the
            // same table at the same moment (PostgreSQL waits for that insert to commit), and then the row exists.
            var insert = Command(connection, $"""
                INSERT INTO intake_source_tables (pipeline, name, prefix, first_seen_at) VALUES (@pipeline, @name, @prefix, @now)
                ON CONFLICT (pipeline, name) DO NOTHING
                RETURNING {TableColumns}
                """);
            Add(insert, "@pipeline", pipeline, DbType.String);
            Add(insert, "@name", name, DbType.String);
            Add(insert, "@prefix", prefix, DbType.String);
            AddTime(insert, "@now", Now());
            if (await QuerySingleAsync(insert, ReadTable, cancellationToken) is { } created)
            {
                return new TableRegistration(created, Created: true);
            }

            var select = Command(connection, $"SELECT {TableColumns} FROM intake_source_tables WHERE pipeline = @pipeline AND name = @name");
            Add(select, "@pipeline", pipeline, DbType.String);
            Add(select, "@name", name, DbType.String);
            var existing = await QuerySingleAsync(select, ReadTable, cancellationToken)
                ?? throw new InvalidOperationException($"table {pipeline}/{name} conflicted on insert but does not exist");
            return new TableRegistration(existing, Created: false);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<SourceTableSummary>> ListTablesAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken)
    {
        var names = pipelines?.ToArray();
        if (names is { Length: 0 })
        {
            return Task.FromResult<IReadOnlyList<SourceTableSummary>>([]);
        }

        return RunAsync(async connection =>
        {
            var select = Command(connection, "");
            var filter = names is null ? "" : $" WHERE t.pipeline IN ({InList(select, "@pipeline", names)})";

            // One row per (table, status of its loads); a table without loads comes once with a NULL status.
            select.CommandText = $"""
                SELECT t.id, t.pipeline, t.name, t.prefix, t.first_seen_at, l.status, COUNT(l.id)
                FROM intake_source_tables t
                LEFT JOIN intake_loads l ON l.pipeline = t.pipeline AND l.table_name = t.name
                {filter}
                GROUP BY t.id, t.pipeline, t.name, t.prefix, t.first_seen_at, l.status
                """;
            var rows = await QueryListAsync(select, r => (Table: ReadTable(r), Status: r.IsDBNull(5) ? null : r.GetString(5), Count: r.GetInt64(6)), cancellationToken);

            // Ordered here, not in SQL: PostgreSQL's collation and SQLite's byte order disagree on '_'.
            return (IReadOnlyList<SourceTableSummary>)rows
                .GroupBy(r => r.Table.Id)
                .Select(g =>
                {
                    var counts = Enum.GetValues<LoadStatus>().ToDictionary(s => s, _ => 0L);
                    foreach (var (_, status, count) in g.Where(r => r.Status is not null))
                    {
                        counts[LoadStatusNames.Parse(status!)] = count;
                    }

                    return new SourceTableSummary(g.First().Table, counts);
                })
                .OrderBy(t => t.Table.Pipeline, StringComparer.Ordinal)
                .ThenBy(t => t.Table.Name, StringComparer.Ordinal)
                .ToList();
        }, cancellationToken);
    }

    private SourceTable ReadTable(DbDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), GetTime(r, 4));
}
