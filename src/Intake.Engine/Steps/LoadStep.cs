using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Formats.Archives;
using Intake.Formats.Csv;

namespace Intake.Engine.Steps;

/// <summary>
/// Bulk-loads every data file of the load (from the work area, or streamed out of the original when the pipeline
/// has no <c>decompress</c> step) into the warehouse table in one transaction. The
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
        if (!context.Pipeline.Source.Kind.WritesInbox)
        {
            return await JsonLoad.RunAsync(context, warehouse, config, Name, cancellationToken); // no original in the inbox: the pull's NDJSON parts
        }

        await using var data = await DataFiles.OpenAsync(context, context.Progress, cancellationToken);
        var result = await warehouse.LoadAsync(
            new WarehouseLoadRequest { Table = config.Table, Columns = config.Columns, LoadId = context.Load.Id, Step = Name, Attempt = context.Attempt },
            data.RowSources(),
            cancellationToken);
        return new StepResult
        {
            RowsIn = result.RowsRead,
            RowsOut = result.RowsWritten,
            BytesIn = data.TotalBytes,
            Outputs = [$"{warehouse.Name}:{config.Table}"],
        };
    }
}
