using System.Runtime.CompilerServices;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;
using Intake.Formats.Csv;

namespace Intake.Engine.Modules;

/// <summary>
/// <c>kind: csv</c>: the files matching <c>files:</c> (attachments, archive entries) into the module's table, each
/// with a header row, read by the loader's CSV reader with the pipeline's <c>csv:</c> settings (delimiter, quote,
/// encoding). Without declared <c>columns:</c> the table gets text columns from the first file's header.
/// </summary>
public sealed class CsvModule : IModule
{
    public string Kind => "csv";

    public IReadOnlyList<string> DefaultFiles => ["**/*.csv"];

    public object? ReadOptions(YamlScope scope, ModuleConfig module)
    {
        if (module.Target is null)
        {
            scope.Report("table", "is required: the warehouse table the CSV files go to");
        }

        return null;
    }

    public Task<IReadOnlyList<ModuleRows>> RunAsync(ModuleContext context, CancellationToken cancellationToken)
    {
        var files = ModuleFiles.Required(context);
        IReadOnlyList<ModuleRows> rows = [new ModuleRows(context.Module.Target!, Sources(context, files, cancellationToken))];
        return Task.FromResult(rows);
    }

    /// <summary>One CSV source per file, opened when the warehouse asks for it (it disposes each, and with it the file).</summary>
    private static async IAsyncEnumerable<IRowSource> Sources(ModuleContext context, IReadOnlyList<ModuleFile> files, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var options = DataFiles.Options(context.Step);
        foreach (var file in files)
        {
            yield return await OpenAsync(file, options, cancellationToken);
        }
    }

    private static async Task<IRowSource> OpenAsync(ModuleFile file, CsvOptions options, CancellationToken cancellationToken)
    {
        var stream = await file.OpenAsync(cancellationToken);
        try
        {
            return await CsvRowSource.OpenAsync(stream, file.DisplayName, options, leaveOpen: false, cancellationToken);
        }
        catch
        {
            await stream.DisposeAsync(); // the header could not be read: the source that would own the stream does not exist
            throw;
        }
    }
}
