using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Steps;

namespace Intake.Engine.Modules;

/// <summary>
/// The <c>module</c> step: runs the pipeline's modules (<c>modules:</c>) in order on the load's files and writes every
/// table they fill in one warehouse transaction with a ledger row per table. A re-run replaces the load's rows (append)
/// or keeps the newest load per key (upsert), so it never leaves a row twice; a failure in any module or table writes
/// nothing.
/// </summary>
public sealed class ModuleStep : IStep
{
    /// <summary>The values that say which load this is: a slice's value of one of these names is ignored.</summary>
    public static readonly IReadOnlySet<string> IdentityValues = new HashSet<string>(["customer", "pipeline", "load", "source_key", "name"], StringComparer.Ordinal);

    private readonly Func<string?, IWarehouse?> _warehouse;
    private readonly IReadOnlyList<IModuleValues> _values;
    private readonly IReadOnlyList<IModuleSelection> _selections;

    /// <param name="warehouse">The warehouse of a name (the load step's, else the default one when null); null when there is none.</param>
    /// <param name="values">What slices add to a load's values (a mail route's captures and folders).</param>
    /// <param name="selections">Slices that may choose which modules a load runs (a mail route's <c>module:</c>).</param>
    public ModuleStep(Func<string?, IWarehouse?> warehouse, IEnumerable<IModuleValues> values, IEnumerable<IModuleSelection>? selections = null)
    {
        _warehouse = warehouse;
        _values = [.. values];
        _selections = [.. selections ?? []];
    }

    public string Name => ModulesSlice.Module.Name;

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var modules = StepContext.Required(context.Pipeline.Modules, "modules");
        var warehouse = context.Warehouse ?? _warehouse(context.Pipeline.Load?.Warehouse)
            ?? throw IntakeException.Config($"pipeline '{context.Pipeline.Name}': the modules have no warehouse to write to; declare one in intake.yaml (warehouses:)");
        var selected = await SelectAsync(context, modules, cancellationToken);
        var files = await ModuleFiles.ListAsync(context, cancellationToken);
        var loadValues = await ValuesAsync(context, cancellationToken);

        var writes = new List<WarehouseTableWrite>();
        foreach (var module in selected)
        {
            var values = WithKeyValues(module, context.Load, loadValues);
            var moduleContext = new ModuleContext { Module = module, Files = files, Values = values, Step = context };
            var constants = module.Constants
                .Select(c => new ConstantColumn(c.Key, ColumnType.Text, ModuleTemplates.Render(c.Value, values, module.Name, $"constants.{c.Key}")))
                .ToList();
            foreach (var rows in await module.Module.RunAsync(moduleContext, cancellationToken))
            {
                var target = rows.Target;
                writes.Add(new WarehouseTableWrite
                {
                    Table = target.Table,
                    Columns = target.Columns,
                    Mode = target.Mode,
                    Key = target.Key,
                    Constants = constants,
                    Sources = rows.Sources,
                });
            }
        }

        var results = await warehouse.WriteTablesAsync(
            new WarehouseTablesRequest { LoadId = context.Load.Id, Step = Name, Attempt = context.Attempt, Tables = writes }, cancellationToken);
        return new StepResult
        {
            RowsIn = results.Sum(r => r.RowsRead),
            RowsOut = results.Sum(r => r.RowsWritten),
            BytesIn = files.Sum(f => f.Size),
            Outputs = [.. results.Select(r => $"{warehouse.Name}:{r.Table}")],
            Message = string.Join("; ", results.Select(Describe)),
        };
    }

    /// <summary>What a table got, as <c>intake show</c> prints it: <c>reports: 1 row (1 replaced)</c>.</summary>
    private static string Describe(WarehouseTableResult r)
    {
        var text = $"{r.Table}: {Count(r.RowsWritten, "row")}";
        var notes = new List<string>();
        if (r.RowsReplaced > 0)
        {
            notes.Add($"{r.RowsReplaced.ToString(CultureInfo.InvariantCulture)} of older loads replaced");
        }

        if (r.RowsKeptNewer > 0)
        {
            notes.Add($"{Count(r.RowsKeptNewer, "row")} left out: a newer load has their key");
        }

        return notes.Count == 0 ? text : $"{text} ({string.Join(", ", notes)})";
    }

    private static string Count(long n, string what) => $"{n.ToString(CultureInfo.InvariantCulture)} {what}{(n == 1 ? "" : "s")}";

    /// <summary>The load's values with the captures of the module's <c>source_key_pattern</c>.</summary>
    private static IReadOnlyDictionary<string, string> WithKeyValues(ModuleConfig module, Load load, IReadOnlyDictionary<string, string> values)
    {
        if (module.SourceKeyPattern is not { } pattern)
        {
            return values;
        }

        var match = pattern.Match(load.SourceKey);
        if (!match.Success)
        {
            throw IntakeException.Config(
                $"module '{module.Name}': the source key '{load.SourceKey}' does not match source_key_pattern {pattern}; fix the pattern, or the path the file was uploaded to");
        }

        var with = new Dictionary<string, string>(values, StringComparer.Ordinal);
        foreach (var name in pattern.GetGroupNames().Where(n => !n.All(char.IsAsciiDigit)))
        {
            if (match.Groups[name].Success)
            {
                with[name] = match.Groups[name].Value;
            }
        }

        return with;
    }

    /// <summary>
    /// The modules this load runs, in the order of <c>modules:</c>: those every choosing slice chose (a mail route's
    /// <c>module:</c>), or all when no slice chooses.
    /// </summary>
    private async Task<IReadOnlyList<ModuleConfig>> SelectAsync(StepContext context, ModulesConfig modules, CancellationToken cancellationToken)
    {
        IEnumerable<ModuleConfig> selected = modules.Modules;
        foreach (var selection in _selections)
        {
            if (await selection.SelectAsync(context, cancellationToken) is not { } choice)
            {
                continue;
            }

            // The configuration refuses a route naming a module the pipeline lacks; this is a pipeline changed since the load was routed.
            if (choice.Modules.FirstOrDefault(name => !modules.Modules.Any(m => m.Name == name)) is { } missing)
            {
                var load = context.Load.Id.ToString(CultureInfo.InvariantCulture);
                throw IntakeException.Config(
                    $"load {load}: {choice.ChosenBy} chose the module '{missing}', which pipeline {context.Pipeline.Name} does not declare (its modules: {string.Join(", ", modules.Modules.Select(m => m.Name))}); add it under modules: in {context.Pipeline.File}, then re-drive load {load}");
            }

            selected = selected.Where(m => choice.Modules.Contains(m.Name, StringComparer.Ordinal));
        }

        return [.. selected];
    }

    /// <summary>
    /// The load's values: its identity (customer, pipeline, load, source_key, name), which no slice replaces; the pipeline's
    /// category, type and group, which a slice's values replace (a mail route's folders); and the rest of the slices' values.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, string>> ValuesAsync(StepContext context, CancellationToken cancellationToken)
    {
        var load = context.Load;
        var pipeline = context.Pipeline;
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["customer"] = load.Customer,
            ["category"] = pipeline.Category,
            ["type"] = pipeline.Type,
            ["group"] = pipeline.Group,
            ["pipeline"] = load.Pipeline,
            ["load"] = load.Id.ToString(CultureInfo.InvariantCulture),
            ["source_key"] = load.SourceKey,
            ["name"] = load.SourceKey[(load.SourceKey.LastIndexOf('/') + 1)..],
        };
        var fromSlices = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var provider in _values)
        {
            foreach (var (key, value) in await provider.ForAsync(context, cancellationToken))
            {
                fromSlices.TryAdd(key, value);
            }
        }

        foreach (var (key, value) in fromSlices.Where(v => !IdentityValues.Contains(v.Key)))
        {
            values[key] = value;
        }

        return values;
    }
}
