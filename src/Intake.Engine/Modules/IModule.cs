using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;

namespace Intake.Engine.Modules;

/// <summary>
/// A parsing module: what turns a load's files (a mail's body and attachments, an archive's entries) into rows of
/// warehouse tables. A pipeline names modules by kind in its <c>modules:</c> list; the <c>module</c> step runs them in
/// order and writes every table they fill in one transaction, so a load's rows are all there or none.
/// </summary>
/// <remarks>
/// A module only reads: it never writes the warehouse itself, so it needs no idempotence of its own. Rows reach the
/// warehouse as <see cref="IRowSource"/>s with text values, cast to the declared columns there, as the load step's are.
/// </remarks>
public interface IModule
{
    /// <summary>The word in a module's <c>kind:</c> (<c>csv</c>, <c>text</c>, <c>command</c>).</summary>
    string Kind { get; }

    /// <summary>The file globs the module reads when it names none (<c>files:</c>); empty when it reads no file by default.</summary>
    IReadOnlyList<string> DefaultFiles { get; }

    /// <summary>
    /// Reads the kind's own keys of one module (the common ones, <see cref="ModuleConfig"/>, are read already) and
    /// reports problems through <paramref name="scope"/>; returns what <see cref="RunAsync"/> finds in <see cref="ModuleConfig.Options"/>.
    /// </summary>
    object? ReadOptions(YamlScope scope, ModuleConfig module);

    /// <summary>The module's rows, per table; a table may have no source (nothing to write).</summary>
    Task<IReadOnlyList<ModuleRows>> RunAsync(ModuleContext context, CancellationToken cancellationToken);
}

/// <summary>How a module's table takes its rows.</summary>
/// <param name="Table">The warehouse table, optionally schema-qualified.</param>
/// <param name="Mode">Append, or upsert on <paramref name="Key"/> (the newest load per key wins).</param>
/// <param name="Columns">Declared columns; null for text columns from the rows.</param>
public sealed record ModuleTarget(string Table, TableWriteMode Mode, IReadOnlyList<string> Key, IReadOnlyList<ColumnSpec>? Columns);

/// <summary>Rows of one table from one module: opened lazily, one source at a time, by the warehouse.</summary>
public sealed record ModuleRows(ModuleTarget Target, IAsyncEnumerable<IRowSource> Sources);

/// <summary>One of the load's files as a module sees it.</summary>
/// <param name="Name">Its path in the load's folder (<c>body.txt</c>, <c>attachments/report.csv</c>, <c>dump/jobs.csv</c>).</param>
/// <param name="DisplayName">Its name for people, inside the original (<c>inbox/…/dump.tar.gz!dump/jobs.csv</c>).</param>
public sealed record ModuleFile(string Name, string DisplayName, long Size, Func<CancellationToken, Task<Stream>> OpenAsync);

/// <summary>What a module is given for one load.</summary>
public sealed record ModuleContext
{
    public required ModuleConfig Module { get; init; }

    /// <summary>Every file of the load, in name order: the work area's when a step expanded the original, else the original itself.</summary>
    public required IReadOnlyList<ModuleFile> Files { get; init; }

    /// <summary>
    /// Values of the load a module may use as columns (<c>constants:</c>) or program arguments: customer, category, type,
    /// group, pipeline, load, source_key, name; and whatever the slices add (<see cref="IModuleValues"/>, such as a mail
    /// route's captures).
    /// </summary>
    public required IReadOnlyDictionary<string, string> Values { get; init; }

    /// <summary>The step's context: the stores, the clock and the logs.</summary>
    public required StepContext Step { get; init; }

    /// <summary>The files matching the module's <c>files:</c> globs, in name order.</summary>
    public IReadOnlyList<ModuleFile> Selected() => ModuleFiles.Select(Files, Module.Files);
}

/// <summary>
/// Gives modules values of a load that only a slice knows (a mail route's captures: the grid or node named in a
/// subject; the route's folders). A <see cref="Slices.Slice"/> that implements it is asked by the <c>module</c> step for
/// every load.
/// </summary>
/// <remarks>
/// The load's identity stays the load's: a slice's <c>customer</c>, <c>pipeline</c>, <c>load</c>, <c>source_key</c> or
/// <c>name</c> is ignored (<see cref="ModuleStep.IdentityValues"/>). Any other value a slice gives replaces the pipeline's
/// (<c>category</c>, <c>type</c>, <c>group</c>), so a mail route's folders win over the pipeline's defaults. When two
/// slices give the same name, the first in <see cref="Slices.SliceRegistry.BuiltIn"/> wins.
/// </remarks>
public interface IModuleValues
{
    /// <summary>The slice's values for this load; empty when the slice has none (a pipeline not of its kind).</summary>
    Task<IReadOnlyDictionary<string, string>> ForAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>
/// Lets a slice choose which of the pipeline's modules run for a load (a mail route's <c>module:</c>). A
/// <see cref="Slices.Slice"/> that implements it is asked by the <c>module</c> step for every load; when none chooses,
/// every module runs.
/// </summary>
public interface IModuleSelection
{
    /// <summary>The modules this load runs; null when the slice does not choose for this load (every module runs).</summary>
    Task<ModuleChoice?> SelectAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>The modules a load runs, by name (of the pipeline's <c>modules:</c>), and who chose them, for messages (<c>route 'alert'</c>).</summary>
public sealed record ModuleChoice(IReadOnlyList<string> Modules, string ChosenBy);
