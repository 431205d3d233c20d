using System.Text;
using Intake.Engine.Mail;
using Intake.Tests.Shared;
using Microsoft.Data.Sqlite;

namespace Intake.Engine.Tests.Mail;

/// <summary>
/// A project with one mail pipeline (<c>mail</c>) and the HView system-report route: a temporary folder with intake.yaml
/// (catalog and store given as flow YAML), the pipeline file, and messages written by the test.
/// </summary>
public sealed class MailProject : IAsyncDisposable
{
    /// <summary>The system-report route: recipient with customer and token, senders of one domain, the grid in the subject.</summary>
    public const string SystemReportRoute = """
          - name: system_report
            recipient: "reports+{customer}.{token}@hview.example"
            token: s3cret-token
            senders: ["*@hydrastor.example"]
            subject: "^System report of (?<grid>[A-Za-z0-9_]+)$"
            category: hydrastor
            group: "{grid}"
        """;

    private readonly List<IntakeRuntime> _opened = [];

    /// <param name="warehouse">Whether the project has a warehouse (SQLite, <c>.intake/warehouse.db</c>), for pipelines with modules.</param>
    public MailProject(string? catalog = null, string? store = null, string routes = SystemReportRoute, string source = "{ kind: mail }", bool warehouse = false)
    {
        Root = Directory.CreateTempSubdirectory("intake-mail-").FullName;
        File.WriteAllText(Path.Combine(Root, "intake.yaml"), $$"""
            catalog: {{catalog ?? "{ kind: sqlite, path: .intake/catalog.db }"}}
            stores: { main: {{store ?? "{ kind: local, root: .intake/store }"}} }
            {{(warehouse ? "warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }" : "")}}
            defaults:
              retry: { max_attempts: 2, base_delay: 1ms, max_delay: 5ms }
            """);
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
        WritePipeline(routes, source);
    }

    public string Root { get; }

    public ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2023, 1, 13, 12, 0, 0, TimeSpan.Zero));

    public string PipelineFile => Path.Combine(Root, "pipelines", "mail.yaml");

    /// <summary>A path under the local store's root (<c>area/key</c>).</summary>
    public string Stored(string areaAndKey) => Path.Combine(Root, ".intake", "store", areaAndKey);

    /// <summary>Writes the pipeline <c>mail</c> with these routes; <paramref name="rest"/> is more of the pipeline file (<c>modules:</c>).</summary>
    public void WritePipeline(string routes, string source = "{ kind: mail }", string steps = "[receive, route, archive]", string rest = "") => File.WriteAllText(PipelineFile, $"""
        name: mail
        customer: acme
        source: {source}
        steps: {steps}
        routes:
        {routes}
        {rest}
        """);

    /// <summary>The warehouse's rows of <paramref name="sql"/>, each value as text.</summary>
    public List<string?[]> Rows(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(Root, ".intake", "warehouse.db")}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string?[]>();
        while (reader.Read())
        {
            rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))]);
        }

        return rows;
    }

    public IntakeConfig Config() => ConfigLoader.Load(Path.Combine(Root, "intake.yaml"));

    public async Task<IntakeRuntime> OpenAsync()
    {
        var runtime = await IntakeRuntime.OpenAsync(Config(), OutageOptions.OneShot, Clock, null, default);
        _opened.Add(runtime);
        return runtime;
    }

    /// <summary>A message as a mail server hands it over.</summary>
    public static byte[] Message(string subject = "System report of icecream_machine", string from = "nas1@hydrastor.example", string? messageId = "report-1@hydrastor.example", string body = "Capacity: 42%\r\n")
    {
        var text = new StringBuilder();
        text.Append("From: Hydrastor <").Append(from).Append(">\r\n");
        text.Append("To: reports+bobs_burgers.s3cret-token@hview.example\r\n");
        text.Append("Subject: ").Append(subject).Append("\r\n");
        if (messageId is not null)
        {
            text.Append("Message-ID: <").Append(messageId).Append(">\r\n");
        }

        text.Append("Date: Fri, 13 Jan 2023 11:59:58 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").Append(body);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static MailEnvelope Envelope(string recipient = "reports+bobs_burgers.s3cret-token@hview.example", string sender = "nas1@hydrastor.example") =>
        new(sender, [recipient], "test");

    public static Task<MailReceipt> ReceiveAsync(IMailReceiver receiver, byte[] message, MailEnvelope? envelope = null) =>
        receiver.ReceiveAsync(new MemoryStream(message), envelope ?? Envelope(), default);

    /// <summary>Carries every waiting load through a real worker.</summary>
    public static async Task DrainAsync(IntakeRuntime runtime)
    {
        var worker = new Worker(runtime);
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var runtime in _opened)
        {
            await runtime.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(Root, recursive: true);
    }
}
