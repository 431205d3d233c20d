using Intake.Core.Model;

namespace Intake.Core.Ports;

/// <summary>
/// A table of a file source watched by prefix (<c>tables_from_prefix</c>): every folder that holds data files is one,
/// named from its prefix (<c>cubic/ods_qlik/EDW.SAMPLE/</c> is <c>cubic__ods_qlik__edw_sample</c>).
/// </summary>
/// <param name="FirstSeenAt">When discovery first saw a file under the prefix and registered the table.</param>
public sealed record SourceTable(long Id, string Pipeline, string Name, string Prefix, DateTimeOffset FirstSeenAt);

/// <summary>What <see cref="ITableStore.RegisterTableAsync"/> found: the table as stored, and whether this call created it.</summary>
public sealed record TableRegistration(SourceTable Table, bool Created);

/// <summary>A registered table with the count of its loads in each status (every status present, zero when none).</summary>
public sealed record SourceTableSummary(SourceTable Table, IReadOnlyDictionary<LoadStatus, long> Loads);

/// <summary>
/// The registry of source tables: discovery registers a table the first time its prefix appears, then registers each
/// file under it as a load of that table (<see cref="NewLoad.Table"/>). Tables are never removed, like loads.
/// </summary>
public interface ITableStore
{
    /// <summary>
    /// Inserts the table unless (pipeline, name) exists; then returns the existing one with <c>Created = false</c>, its
    /// prefix as first registered (two prefixes that name the same table are told apart by the caller comparing them).
    /// Safe to call from several processes at once: exactly one of them creates the table.
    /// </summary>
    Task<TableRegistration> RegisterTableAsync(string pipeline, string name, string prefix, CancellationToken cancellationToken);

    /// <summary>The tables of these pipelines (all when null), ordered by pipeline and name, with their loads by status.</summary>
    Task<IReadOnlyList<SourceTableSummary>> ListTablesAsync(IReadOnlyCollection<string>? pipelines, CancellationToken cancellationToken);
}
