using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Configuration;

namespace Intake.Engine.Modules;

/// <summary>
/// <c>kind: command</c>: runs a program on a copy of the load's folder, so a module can be written in any language
/// (HView's are Python). <c>run: [program, args…]</c> with <c>{folder}</c> (the folder) and the load's values
/// (<c>{customer}</c>, <c>{group}</c>, …); the program writes rows to standard output as JSON lines, either
/// <c>{"table": "t", "row": {…}}</c> (a table of the module's <c>table:</c> or <c>tables:</c>) or the row itself (the
/// module's <c>table:</c>). It runs at most <c>timeout:</c> (5 minutes by default), then it and its children are killed.
/// </summary>
/// <remarks>
/// The program gets a copy, in a temporary folder on this machine, whatever store holds the work area: it may read and
/// scribble there freely, and the load's own files stay as they are. The rows are read whole before the warehouse sees
/// any, so the warehouse's transaction is never held open while a program runs.
/// </remarks>
public sealed class CommandModule : IModule
{
    /// <summary>Lines of standard error kept for the message of a failed run: the end, where programs say what went wrong.</summary>
    private const int ErrorLines = 20;

    public string Kind => "command";

    public IReadOnlyList<string> DefaultFiles => [];

    public object? ReadOptions(YamlScope scope, ModuleConfig module)
    {
        var run = scope.StringList("run") ?? [];
        if (run.Count == 0 || run[0].Length == 0)
        {
            scope.Report("run", "is required: the program and its arguments, e.g. [python3, modules/veritas2hview.py, \"{folder}\"]");
        }

        var timeout = scope.Duration("timeout", TimeSpan.FromMinutes(5));
        if (timeout <= TimeSpan.Zero)
        {
            scope.Report("timeout", "must be longer than zero");
        }

        var tables = new Dictionary<string, ModuleTarget>(StringComparer.OrdinalIgnoreCase);
        var t = scope.Scope("tables");
        foreach (var (name, _) in t.Entries.ToList())
        {
            var entry = t.Scope(name);
            if (ModulesConfigReader.ReadTarget(entry, name) is { } target)
            {
                tables[name] = target;
            }

            entry.RejectUnknown();
        }

        if (module.Target is null && tables.Count == 0)
        {
            scope.Report("table", "is required (or tables:): where the program's rows go");
        }

        return new CommandOptions(run, timeout, tables);
    }

    public async Task<IReadOnlyList<ModuleRows>> RunAsync(ModuleContext context, CancellationToken cancellationToken)
    {
        var module = context.Module;
        var options = module.OptionsAs<CommandOptions>();
        var folder = Directory.CreateTempSubdirectory($"intake-module-{context.Step.Load.Id.ToString(CultureInfo.InvariantCulture)}-").FullName;
        try
        {
            await CopyFilesAsync(context, folder, cancellationToken);
            var output = await RunProgramAsync(context, options, folder, cancellationToken);
            return Rows(context, options, output);
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A child the kill did not reach may still hold a file; the temporary folder is the system's to clear.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static async Task CopyFilesAsync(ModuleContext context, string folder, CancellationToken cancellationToken)
    {
        var root = Path.GetFullPath(folder) + Path.DirectorySeparatorChar;
        foreach (var file in context.Files)
        {
            var path = Path.GetFullPath(Path.Combine(folder, file.Name));
            if (!path.StartsWith(root, StringComparison.Ordinal))
            {
                throw IntakeException.Security($"module '{context.Module.Name}': the file name '{file.Name}' would leave the module's folder; it was not copied");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var source = await file.OpenAsync(cancellationToken);
            await using var target = File.Create(path);
            await source.CopyToAsync(target, cancellationToken);
        }
    }

    private static async Task<List<string>> RunProgramAsync(ModuleContext context, CommandOptions options, string folder, CancellationToken cancellationToken)
    {
        var module = context.Module.Name;
        var values = new Dictionary<string, string>(context.Values, StringComparer.Ordinal) { ["folder"] = folder };
        var program = ModuleTemplates.Render(options.Run[0], values, module, "run");
        if (program.Contains('/', StringComparison.Ordinal) && !Path.IsPathRooted(program))
        {
            program = Path.GetFullPath(Path.Combine(context.Step.BaseDirectory, program)); // a script of the project, beside intake.yaml
        }

        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in options.Run.Skip(1))
        {
            start.ArgumentList.Add(ModuleTemplates.Render(argument, values, module, "run"));
        }

        foreach (var (name, value) in values)
        {
            start.Environment["INTAKE_" + name.ToUpperInvariant()] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw IntakeException.Config($"module '{module}': cannot start '{program}': {e.Message}; check run: (the program's path, relative to intake.yaml, or its name on PATH) and that it is executable", e);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(options.Timeout, context.Step.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var lines = new List<string>();
        var errors = new Queue<string>();
        var stdout = ReadAsync(process.StandardOutput, lines.Add, linked.Token);
        var stderr = ReadAsync(process.StandardError, line =>
        {
            errors.Enqueue(line);
            if (errors.Count > ErrorLines)
            {
                errors.Dequeue();
            }
        }, linked.Token);
        try
        {
            await process.WaitForExitAsync(linked.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited meanwhile; what it left running (a child still writing to its output) is no longer its tree.
            }

            cancellationToken.ThrowIfCancellationRequested();
            // Transient: a program that hangs may be waiting for something that comes back; the retries decide.
            throw IntakeException.Transient(
                $"module '{module}': '{program}' ran longer than its timeout ({options.Timeout.ToString("c", CultureInfo.InvariantCulture)}) and was stopped{Tail(errors)}; raise timeout: when the load needs longer");
        }

        if (process.ExitCode != 0)
        {
            throw IntakeException.Format(
                $"module '{module}': '{program}' failed on {context.Step.Load.SourceKey} with exit code {process.ExitCode.ToString(CultureInfo.InvariantCulture)}{Tail(errors)}");
        }

        return lines;
    }

    private static async Task ReadAsync(StreamReader reader, Action<string> line, CancellationToken cancellationToken)
    {
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line(text);
        }
    }

    private static string Tail(Queue<string> errors) =>
        errors.Count == 0 ? "" : "; the last lines it wrote to standard error: " + string.Join(" | ", errors.Select(e => e.Trim()).Where(e => e.Length > 0));

    /// <summary>The program's JSON lines as rows of the module's tables.</summary>
    private static List<ModuleRows> Rows(ModuleContext context, CommandOptions options, List<string> lines)
    {
        var module = context.Module;
        var targets = module.Targets.ToDictionary(t => t.Table, StringComparer.OrdinalIgnoreCase);
        var rows = targets.Values.ToDictionary(t => t.Table, t => new RowList($"output of {options.Run[0]} (module {module.Name}, table {t.Table})"), StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < lines.Count; i++)
        {
            var number = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            string Where() => $"module '{module.Name}': output line {number.ToString(CultureInfo.InvariantCulture)} of {options.Run[0]}";
            JsonDocument json;
            try
            {
                json = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw IntakeException.Format($"{Where()} is not JSON ({e.Message}): {Truncate(line)}; write one JSON object per line, {{\"table\": \"t\", \"row\": {{…}}}} or the row itself", e);
            }

            using (json)
            {
                var root = json.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw IntakeException.Format($"{Where()} is not a JSON object: {Truncate(line)}");
                }

                var row = root;
                var table = module.Target?.Table;
                if (root.TryGetProperty("table", out var named) && root.TryGetProperty("row", out var inner) && inner.ValueKind == JsonValueKind.Object)
                {
                    table = named.ValueKind == JsonValueKind.String ? named.GetString() : null;
                    row = inner;
                }

                if (table is null || !rows.TryGetValue(table, out var list))
                {
                    throw IntakeException.Format(table is null
                        ? $"{Where()} names no table and the module has no table: of its own; write {{\"table\": \"t\", \"row\": {{…}}}} with one of {string.Join(", ", targets.Keys)}"
                        : $"{Where()}: table '{table}' is not one of the module's tables ({string.Join(", ", targets.Keys)}); declare it under tables:");
                }

                list.Add(number, row.EnumerateObject().Select(p => new KeyValuePair<string, string?>(p.Name, Text(p.Value))));
            }
        }

        return [.. targets.Values.Select(t => new ModuleRows(t, (rows[t.Table].Count > 0 ? new IRowSource[] { rows[t.Table] } : []).ToAsyncEnumerable()))];
    }

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(), // numbers as written; objects and arrays as JSON, for a json column
    };

    private static string Truncate(string line) => line.Length <= 200 ? line : line[..200] + "…";

    private sealed record CommandOptions(IReadOnlyList<string> Run, TimeSpan Timeout, IReadOnlyDictionary<string, ModuleTarget> Tables) : ModulesConfigReader.IModuleTables;
}
