using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Bulk-loads every data file of the load into the warehouse table in one transaction. The
/// warehouse deletes this load's rows from an earlier attempt in the same transaction, so a re-run
/// after a crash never leaves a row twice.
/// </summary>
public sealed class LoadStep : IStep
{
    public string Name => "load";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken cancellationToken)
    {
        var config = context.Pipeline.Load!;
        var warehouse = context.Runtime.Warehouses[config.Warehouse!];
        if (context.Pipeline.Source.Kind == "http")
        {
            return await JsonLoad.RunAsync(context, warehouse, config, Name, cancellationToken); // the pull's NDJSON parts
        }

        var files = await DataFiles.ListAsync(context, cancellationToken);
        var total = files.Sum(f => f.Size);
        var options = DataFiles.Options(context);
        var streams = new List<Stream>();
        var sources = new List<IRowSource>();
        long doneBefore = 0;
        try
        {
            foreach (var f in files)
            {
                var offset = doneBefore;
                var stream = new CountingStream(await context.WorkStore.OpenReadAsync(Areas.Work, f.Key, cancellationToken), n => context.Progress(offset + n, total));
                doneBefore += f.Size;
                streams.Add(stream);
                sources.Add(new CsvRowSource(stream, DataFiles.DisplayName(context, f), options));
            }

            var result = await warehouse.LoadAsync(
                new WarehouseLoadRequest { Table = config.Table, Columns = config.Columns, LoadId = context.Load.Id, Step = Name, Attempt = context.Attempt },
                sources,
                cancellationToken);
            return new StepResult
            {
                RowsIn = result.RowsRead,
                RowsOut = result.RowsWritten,
                BytesIn = total,
                Outputs = [$"{warehouse.Name}:{config.Table}"],
            };
        }
        finally
        {
            foreach (var s in sources)
            {
                s.Dispose();
            }

            foreach (var s in streams)
            {
                await s.DisposeAsync();
            }
        }
    }
}
