using System.Globalization;
using System.Text.RegularExpressions;
using Intake.Engine.Configuration;
using Intake.Sources.Database;

namespace Intake.Engine.SourceKinds.Database;

/// <summary>Reads <c>source.kind: database</c> and the pipeline's <c>export:</c> block, for <see cref="DatabaseKind"/>.</summary>
internal static partial class DatabaseSourceReader
{
    public static DatabaseSourceOptions ReadSource(YamlScope src, string baseDir)
    {
        var db = src.Scope("database");
        if (!db.Exists)
        {
            src.Report("database", "is required for a database source: {kind: sqlite, path: …} or {kind: postgres, connection: …}");
        }

        var (kind, connection) = ConfigLoader.ReadDatabase(db, baseDir, "source.db", "database");
        db.RejectUnknown();

        var table = src.String("table");
        var query = src.String("query");
        if ((table is null) == (query is null))
        {
            src.Report("table", "give either table (a table name) or query (a SELECT), not both and not neither");
        }

        if (table is not null && !TablePattern().IsMatch(table))
        {
            src.Report("table", $"'{table}' is not a table name (letters, digits and '_', optionally schema.table)");
        }

        string Column(string key, bool required)
        {
            var value = src.String(key, required: required);
            if (value is not null && !ColumnPattern().IsMatch(value))
            {
                src.Report(key, $"'{value}' is not a column name (letters, digits and '_')");
            }

            return value ?? "";
        }

        var partition = Column("partition_column", required: true);
        var time = Column("time_column", required: true);
        var id = Column("id_column", required: false);
        var start = src.String("default_start", fallback: DefaultStart.Yesterday.Text)!;
        if (ParseDefaultStart(start) is not { } defaultStart)
        {
            defaultStart = DefaultStart.Yesterday;
            src.Report("default_start", $"'{start}' is not a start (yesterday, today, a time such as 2024-01-01T00:00:00Z, or a duration before the request such as 7d)");
        }

        return new DatabaseSourceOptions
        {
            Kind = kind,
            Connection = connection,
            Table = table,
            Query = query,
            PartitionColumn = partition,
            TimeColumn = time,
            IdColumn = id.Length == 0 ? null : id,
            PartitionsQuery = src.String("partitions"),
            DefaultStart = defaultStart,
        };
    }

    /// <summary><c>default_start</c>: yesterday, today, a time, or a duration before the request; null when it is none of them.</summary>
    private static DefaultStart? ParseDefaultStart(string text) => text switch
    {
        "yesterday" => DefaultStart.Yesterday,
        "today" => DefaultStart.Today,
        _ when DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at) => DefaultStart.At(text, at),
        _ when Units.TryParseDuration(text, out var ago) => DefaultStart.Before(text, ago),
        _ => null,
    };

    /// <summary>The <c>export:</c> block of a database pipeline: where and how its exports are written.</summary>
    public static ExportConfig ReadExport(YamlScope s, string store, IReadOnlyDictionary<string, StoreConfig> stores)
    {
        var e = s.Scope("export");

        // The defaults are ExportConfig's; the store and the key template (which names the format) depend on the pipeline.
        var d = new ExportConfig { Store = store, KeyTemplate = "" };
        var format = e.String("format", fallback: d.Format)!;
        if (format is not ("ndjson" or "csv"))
        {
            e.Report("format", $"'{format}' is not an export format (ndjson, csv)");
        }

        var exportStore = e.String("store", fallback: d.Store)!;
        if (!stores.ContainsKey(exportStore))
        {
            e.Report("store", $"no store named '{exportStore}' (stores: {string.Join(", ", stores.Keys)})");
        }

        d = d with { Store = exportStore, KeyTemplate = ExportConfig.DefaultKeyTemplate(format) };
        var type = e.String("type", fallback: d.Type)!;
        if (type is not ("daily" or "hourly" or "instant"))
        {
            e.Report("type", $"'{type}' is not an export type (daily, hourly, instant)");
        }

        var compression = e.String("compression", fallback: d.Compression)!;
        if (compression is not ("fastest" or "optimal"))
        {
            e.Report("compression", $"'{compression}' is not a compression level (fastest, optimal)");
        }

        var keyTemplate = e.String("key_template", fallback: d.KeyTemplate)!;
        try
        {
            _ = Storage.KeyTemplate.Parse(keyTemplate, ExportConfig.TextPlaceholders, ExportConfig.DatePlaceholders);
        }
        catch (Core.Errors.IntakeException ex)
        {
            e.Report("key_template", ex.Message);
        }

        var r = e.Scope("redrive");
        var config = d with
        {
            Format = format,
            KeyTemplate = keyTemplate,
            Area = e.Name("area", fallback: d.Area),
            Type = type,
            Compression = compression,
            RedriveMax = r.Int("max", d.RedriveMax, 0, 100),
            RedriveDelay = r.Duration("delay", d.RedriveDelay),
        };
        r.RejectUnknown();
        e.RejectUnknown();
        return config;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")]
    private static partial Regex TablePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex ColumnPattern();
}
