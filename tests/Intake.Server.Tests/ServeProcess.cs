using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Intake.Tests.Shared;

namespace Intake.Server.Tests;

/// <summary>
/// A project folder (intake.yaml with a PostgreSQL catalog, pipelines/, source folders) and the real
/// <c>intake</c> CLI run on it: <c>intake serve</c> on 127.0.0.1 (port chosen by the OS, read from its log)
/// and one-shot commands like <c>intake keys create</c>.
/// </summary>
public sealed partial class Workspace : IDisposable
{
    public Workspace(string catalogConnection)
    {
        Root = Directory.CreateTempSubdirectory("intake-server-").FullName;
        Directory.CreateDirectory(Path.Combine(Root, "pipelines"));
        File.WriteAllText(Path.Combine(Root, "intake.yaml"), $"""
            catalog:
              kind: postgres
              connection: "{catalogConnection}"
            stores:
              local: {"{"} kind: local, root: .intake/store {"}"}
            warehouses:
              main: {"{"} kind: sqlite, path: .intake/warehouse.db {"}"}
            defaults:
              retry: {"{"} max_attempts: 1 {"}"}
              lease: 10s
            """);
    }

    public string Root { get; }

    public string Incoming(string name)
    {
        var dir = Path.Combine(Root, "incoming", name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A pipeline reading CSV files from incoming/NAME into the warehouse table NAME.</summary>
    public void WritePipeline(string name, string customer, string extra = "")
    {
        Incoming(name);
        File.WriteAllText(Path.Combine(Root, "pipelines", name + ".yaml"), $"""
            name: {name}
            customer: {customer}
            source:
              kind: local
              path: ../incoming/{name}
              stable_for: 0s
            steps: [fetch, decompress, validate, archive, load]
            load:
              table: {name}
              columns:
                id: bigint not null
                name: text
            {extra}
            """);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a stopped child may still hold a file for a moment; the temp folder is cleaned by the OS
        }
    }

    public static string CliDll => TestRepo.CliDll;

    private ProcessStartInfo Cli(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Root };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(Root);
        psi.Environment["CI"] = "true"; // plain output, no terminal detection
        return psi;
    }

    public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

    public async Task<CliResult> RunCliAsync(params string[] args)
    {
        using var p = Process.Start(Cli(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await p.WaitForExitAsync(timeout.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>intake serve</c> on a free loopback port and waits until it answers /healthz.</summary>
    public async Task<Serve> StartServeAsync(params string[] extra)
    {
        var args = new List<string> { "serve", "--urls", "http://127.0.0.1:0" };
        args.AddRange(extra);
        var process = Process.Start(Cli(args))!;
        var serve = new Serve(process);
        await serve.WaitUntilListeningAsync();
        return serve;
    }

    /// <summary>A running <c>intake serve</c>: its address, an HTTP client, and everything it logged.</summary>
    public sealed partial class Serve : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal Serve(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Collect(e.Data);
            process.ErrorDataReceived += (_, e) => Collect(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _ = process.WaitForExitAsync().ContinueWith(_ => _listening.TrySetException(new InvalidOperationException($"intake serve exited with {process.ExitCode}:\n{Output}")), TaskScheduler.Default);
        }

        public Uri BaseAddress { get; private set; } = null!;

        /// <summary>Whether the process ended (a server must not end by itself).</summary>
        public bool HasExited => _process.HasExited;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        private void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(line);
            }

            if (ListeningPattern().Match(line) is { Success: true } m)
            {
                _listening.TrySetResult(new Uri(m.Groups[1].Value));
            }
        }

        internal async Task WaitUntilListeningAsync()
        {
            BaseAddress = await _listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var client = Client(null);
            for (var i = 0; i < 100; i++)
            {
                try
                {
                    if ((await client.GetAsync("/healthz")).IsSuccessStatusCode)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    // not accepting yet
                }

                await Task.Delay(100);
            }

            throw new InvalidOperationException("intake serve never answered /healthz:\n" + Output);
        }

        /// <summary>A client sending <paramref name="key"/> as X-Api-Key (none when null).</summary>
        public HttpClient Client(string? key, bool bearer = false)
        {
            var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            if (key is not null)
            {
                if (bearer)
                {
                    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
                }
                else
                {
                    client.DefaultRequestHeaders.Add("X-Api-Key", key);
                }
            }

            return client;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        [GeneratedRegex("Now listening on: (http://[0-9.:]+)")]
        private static partial Regex ListeningPattern();
    }
}

/// <summary>Small helpers for JSON responses.</summary>
public static class Http
{
    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(this HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 && (response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) ?? false)
            ? JsonDocument.Parse(text).RootElement.Clone()
            : JsonDocument.Parse(JsonSerializer.Serialize(text)).RootElement.Clone();
        return ((int)response.StatusCode, body, response);
    }

    public static Task<(int Status, JsonElement Body, HttpResponseMessage Response)> GetJsonAsync(this HttpClient client, string path) => client.SendAsync(HttpMethod.Get, path);

    public static Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostJsonAsync(this HttpClient client, string path, string? json = null) => client.SendAsync(HttpMethod.Post, path, json);

    public static IReadOnlyList<long> Ids(this JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetInt64()).ToList();

    public static IReadOnlyList<string> Names(this JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()!).ToList();
}
