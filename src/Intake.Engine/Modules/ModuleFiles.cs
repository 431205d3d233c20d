using Intake.Core.Errors;
using Intake.Core.Ports;
using Intake.Engine.Steps;
using Intake.Sources;

namespace Intake.Engine.Modules;

/// <summary>
/// The files of a load as modules see them: what an earlier step expanded into the work area (<c>decompress</c>'s
/// entries, the mail <c>extract</c> step's <c>body.txt</c>, <c>attachments/…</c> and <c>parts.json</c>), or, when no
/// step expands the original, the original itself under its file name.
/// </summary>
internal static class ModuleFiles
{
    public static async Task<IReadOnlyList<ModuleFile>> ListAsync(StepContext context, CancellationToken cancellationToken)
    {
        var files = new List<ModuleFile>();
        if (StepDescriptor.AnyIn(context.Pipeline.Steps, d => d.ExpandsOriginal))
        {
            var work = context.WorkStore;
            await foreach (var o in work.ListAsync(Areas.Work, context.WorkPrefix, cancellationToken))
            {
                var name = o.Key[context.WorkPrefix.Length..];
                var key = o.Key;
                files.Add(new ModuleFile(name, $"{context.Load.SourceKey}!{name}", o.Size, t => work.OpenReadAsync(Areas.Work, key, t)));
            }

            files.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return files;
        }

        var store = context.Store;
        var inboxKey = context.InboxKey;
        var info = await store.StatAsync(Areas.Inbox, inboxKey, cancellationToken)
            ?? throw IntakeException.Integrity($"{context.Load.SourceKey}: the original is missing from the inbox");
        var fileName = context.Load.SourceKey[(context.Load.SourceKey.LastIndexOf('/') + 1)..];
        files.Add(new ModuleFile(fileName, context.Load.SourceKey, info.Size, t => store.OpenReadAsync(Areas.Inbox, inboxKey, t)));
        return files;
    }

    public static IReadOnlyList<ModuleFile> Select(IReadOnlyList<ModuleFile> files, IReadOnlyList<Glob> globs) =>
        [.. files.Where(f => globs.Any(g => g.IsMatch(f.Name)))];

    /// <summary>The module's files, or an <c>empty</c> error naming the patterns when there is none and the module is not optional.</summary>
    public static IReadOnlyList<ModuleFile> Required(ModuleContext context)
    {
        var selected = context.Selected();
        if (selected.Count == 0 && !context.Module.Optional)
        {
            var names = context.Files.Count <= 8 ? string.Join(", ", context.Files.Select(f => f.Name)) : string.Join(", ", context.Files.Take(8).Select(f => f.Name)) + $" and {context.Files.Count - 8} more";
            throw IntakeException.Empty(
                $"module '{context.Module.Name}': no file of {context.Step.Load.SourceKey} matches {string.Join(", ", context.Module.Files.Select(g => g.Pattern))} (the load has {(names.Length == 0 ? "no file" : names)}); fix files:, or set optional: true when the file may be missing");
        }

        return selected;
    }
}
