using System.Text;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;
using Intake.Sources;

namespace Intake.Engine.Steps;

/// <summary>The load's expanded entries that are read as CSV, and how to open them.</summary>
internal static class DataFiles
{
    public static async Task<List<ObjectInfo>> ListAsync(StepContext context, CancellationToken cancellationToken)
    {
        var globs = context.Pipeline.Csv.Files.Select(p => Glob.Parse(p)).ToList();
        var result = new List<ObjectInfo>();
        await foreach (var o in context.WorkStore.ListAsync(Areas.Work, context.WorkPrefix, cancellationToken))
        {
            var name = o.Key[context.WorkPrefix.Length..];
            if (globs.Any(g => g.IsMatch(name)))
            {
                result.Add(o);
            }
        }

        return result;
    }

    public static CsvOptions Options(StepContext context) => new()
    {
        Delimiter = context.Pipeline.Csv.Delimiter,
        Quote = context.Pipeline.Csv.Quote,
        Encoding = Encoding.GetEncoding(context.Pipeline.Csv.Encoding),
    };

    /// <summary>The entry's name as users know it: inside the original, e.g. <c>sales.zip/2024/jan.csv</c>.</summary>
    public static string DisplayName(StepContext context, ObjectInfo o)
    {
        var original = context.Load.SourceKey;
        return $"{original}!{o.Key[context.WorkPrefix.Length..]}";
    }
}
