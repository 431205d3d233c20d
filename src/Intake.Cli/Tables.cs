using System.Globalization;
using Intake.Core.Errors;
using Intake.Core.Model;
using Intake.Engine.Audit;
using Spectre.Console;

namespace Intake.Cli;

/// <summary>The human-readable views; --json prints the same data for scripts.</summary>
internal static class Tables
{
    private static string Time(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    private static string StatusMarkup(LoadStatus s) => s switch
    {
        LoadStatus.Archived => "[green]archived[/]",
        LoadStatus.Errored => "[red]errored[/]",
        LoadStatus.Held => "[yellow]held[/]",
        _ => Terminal.Escape(s.ToWord()),
    };

    public static void Loads(IReadOnlyList<Load> loads, string? title)
    {
        if (loads.Count == 0)
        {
            Terminal.Out.WriteLine("no loads");
            return;
        }

        // Columns that say the same on every row, or do not fit a narrow terminal, are left out.
        var wide = Terminal.Out.Profile.Width >= 140;
        var showPipeline = wide || loads.Select(l => l.Pipeline).Distinct().Skip(1).Any();
        var showCustomer = wide || loads.Select(l => l.Customer).Distinct().Skip(1).Any();
        var table = new Table { Border = TableBorder.Simple };
        if (title is not null)
        {
            table.Title = new TableTitle(title);
        }

        table.AddColumn(new TableColumn("id").NoWrap());
        if (showPipeline)
        {
            table.AddColumn(new TableColumn("pipeline").NoWrap());
        }

        if (showCustomer)
        {
            table.AddColumn(new TableColumn("customer").NoWrap());
        }

        table.AddColumn(new TableColumn("source"));
        table.AddColumn(new TableColumn("status").NoWrap());
        table.AddColumn(new TableColumn("tries").NoWrap());
        table.AddColumn(new TableColumn("error"));
        if (wide)
        {
            table.AddColumn(new TableColumn("updated (UTC)").NoWrap());
        }

        foreach (var l in loads)
        {
            var error = l.ErrorKind is { } k ? $"{k.ToWord()}: {l.ErrorMessage}" : l.HeldReason ?? "";
            var cells = new List<string> { l.Id.ToString(CultureInfo.InvariantCulture) };
            if (showPipeline)
            {
                cells.Add(Terminal.Escape(l.Pipeline));
            }

            if (showCustomer)
            {
                cells.Add(Terminal.Escape(l.Customer));
            }

            cells.Add(Terminal.Escape(l.SourceKey));
            cells.Add(StatusMarkup(l.Status));
            cells.Add(l.Attempts.ToString(CultureInfo.InvariantCulture));
            cells.Add(Terminal.Escape(Truncate(error, wide ? 90 : 60)));
            if (wide)
            {
                cells.Add(Time(l.UpdatedAt));
            }

            table.AddRow(cells.ToArray());
        }

        Terminal.Out.Write(table);
    }

    public static void Show(Load l, IReadOnlyList<StepRecord> steps)
    {
        var grid = new Grid().AddColumn().AddColumn();
        void Row(string k, string? v) => grid.AddRow(new Text(k), new Text(v ?? ""));
        Row("load", l.Id.ToString(CultureInfo.InvariantCulture));
        Row("pipeline", l.Pipeline);
        Row("customer", l.Customer);
        Row("source", l.SourceKey);
        if (l.Table is not null)
        {
            Row("table", l.Table);
        }

        Row("fingerprint", l.Fingerprint);
        Row("status", l.Status.ToWord());
        Row("attempts", l.Attempts.ToString(CultureInfo.InvariantCulture));
        if (l.ErrorKind is { } kind)
        {
            Row("error", $"{kind.ToWord()}: {l.ErrorMessage}");
            if (l.ErrorCode is not null)
            {
                Row("error code", l.ErrorCode);
            }
        }

        if (l.HeldReason is not null)
        {
            Row("held because", l.HeldReason);
        }

        Row("inbox", l.InboxKey);
        Row("created", Time(l.CreatedAt));
        Row("updated", Time(l.UpdatedAt));
        Terminal.Out.Write(grid);
        Terminal.Out.WriteLine();

        var table = new Table { Border = TableBorder.Simple };
        table.AddColumns("step", "attempt", "outcome", "started (UTC)", "took", "rows in", "rows out", "bytes in", "bytes out", "error / outputs");
        foreach (var s in steps)
        {
            var took = s.FinishedAt is { } f ? $"{(f - s.StartedAt).TotalSeconds:0.000}s" : "";
            var detail = s.ErrorKind is { } k ? $"{k.ToWord()}{(s.ErrorCode is null ? "" : $" ({s.ErrorCode})")}: {s.Message}" : s.WasHeld ? s.Message! : string.Join(" ", s.Outputs);
            table.AddRow(
                Terminal.Escape(s.Step),
                s.Attempt.ToString(CultureInfo.InvariantCulture),
                s.Outcome switch { StepOutcome.Succeeded => "[green]succeeded[/]", _ when s.WasHeld => "[yellow]held[/]", StepOutcome.Failed => "[red]failed[/]", _ => "running" },
                Time(s.StartedAt),
                took,
                N(s.RowsIn),
                N(s.RowsOut),
                N(s.BytesIn),
                N(s.BytesOut),
                Terminal.Escape(Truncate(detail, 120)));
        }

        Terminal.Out.Write(table);
    }

    public static void Audit(IReadOnlyList<LoadAudit> results)
    {
        if (results.Count == 0)
        {
            return;
        }

        var table = new Table { Border = TableBorder.Simple };
        table.AddColumns("load", "pipeline", "status", "rows parsed", "rows loaded", "rows in warehouse", "rows merged", "problems");
        foreach (var r in results)
        {
            table.AddRow(
                r.Load.Id.ToString(CultureInfo.InvariantCulture),
                Terminal.Escape(r.Load.Pipeline),
                StatusMarkup(r.Load.Status),
                N(r.RowsParsed),
                N(r.RowsLoaded),
                N(r.RowsInWarehouse),
                N(r.RowsMerged),
                r.Ok ? "[green]ok[/]" : "[red]" + Terminal.Escape(string.Join("; ", r.Problems)) + "[/]");
        }

        Terminal.Out.Write(table);
    }

    public static void SourceTables(IReadOnlyList<Core.Ports.SourceTableSummary> tables, Func<string, string, string?> warehouseTable)
    {
        var table = new Table { Border = TableBorder.Simple };
        var showPipeline = tables.Select(t => t.Table.Pipeline).Distinct().Skip(1).Any();
        if (showPipeline)
        {
            table.AddColumn(new TableColumn("pipeline").NoWrap());
        }

        table.AddColumns("table", "prefix", "first seen (UTC)", "warehouse table", "loads");
        foreach (var t in tables)
        {
            var loads = string.Join(", ", t.Loads.Where(kv => kv.Value > 0).Select(kv => $"{StatusMarkup(kv.Key)} {N(kv.Value)}"));
            var cells = new List<string>();
            if (showPipeline)
            {
                cells.Add(Terminal.Escape(t.Table.Pipeline));
            }

            cells.Add(Terminal.Escape(t.Table.Name));
            cells.Add(Terminal.Escape(t.Table.Prefix));
            cells.Add(Time(t.Table.FirstSeenAt));
            cells.Add(Terminal.Escape(warehouseTable(t.Table.Pipeline, t.Table.Name) ?? ""));
            cells.Add(loads.Length == 0 ? "none" : loads);
            table.AddRow(cells.ToArray());
        }

        Terminal.Out.Write(table);
        Terminal.Out.WriteLine($"{tables.Count} table(s)");
    }

    private static string N(long? n) => n?.ToString("N0", CultureInfo.InvariantCulture) ?? "";

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
