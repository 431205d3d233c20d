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
        var table = new Table { Border = TableBorder.Simple };
        if (title is not null)
        {
            table.Title = new TableTitle(title);
        }

        table.AddColumns("id", "pipeline", "customer", "source", "status", "attempts", "error", "updated (UTC)");
        foreach (var l in loads)
        {
            var error = l.ErrorKind is { } k ? $"{k.ToWord()}: {l.ErrorMessage}" : l.HeldReason ?? "";
            table.AddRow(
                l.Id.ToString(CultureInfo.InvariantCulture),
                Terminal.Escape(l.Pipeline),
                Terminal.Escape(l.Customer),
                Terminal.Escape(l.SourceKey),
                StatusMarkup(l.Status),
                l.Attempts.ToString(CultureInfo.InvariantCulture),
                Terminal.Escape(Truncate(error, 90)),
                Time(l.UpdatedAt));
        }

        if (loads.Count == 0)
        {
            Terminal.Out.WriteLine("no loads");
            return;
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
        Row("fingerprint", l.Fingerprint);
        Row("status", l.Status.ToWord());
        Row("attempts", l.Attempts.ToString(CultureInfo.InvariantCulture));
        if (l.ErrorKind is { } kind)
        {
            Row("error", $"{kind.ToWord()}: {l.ErrorMessage}");
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
            var detail = s.ErrorKind is { } k ? $"{k.ToWord()}: {s.Message}" : string.Join(" ", s.Outputs);
            table.AddRow(
                Terminal.Escape(s.Step),
                s.Attempt.ToString(CultureInfo.InvariantCulture),
                s.Outcome switch { StepOutcome.Succeeded => "[green]succeeded[/]", StepOutcome.Failed => "[red]failed[/]", _ => "running" },
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
        table.AddColumns("load", "pipeline", "status", "rows parsed", "rows loaded", "rows in warehouse", "problems");
        foreach (var r in results)
        {
            table.AddRow(
                r.Load.Id.ToString(CultureInfo.InvariantCulture),
                Terminal.Escape(r.Load.Pipeline),
                StatusMarkup(r.Load.Status),
                N(r.RowsParsed),
                N(r.RowsLoaded),
                N(r.RowsInWarehouse),
                r.Ok ? "[green]ok[/]" : "[red]" + Terminal.Escape(string.Join("; ", r.Problems)) + "[/]");
        }

        Terminal.Out.Write(table);
    }

    private static string N(long? n) => n?.ToString("N0", CultureInfo.InvariantCulture) ?? "";

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
