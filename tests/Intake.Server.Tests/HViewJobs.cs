using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Intake.Server.Tests;

/// <summary>What the HView upload tests share: a tar.gz as an uploader makes it, and waiting for a job to end.</summary>
internal static class HViewJobs
{
    /// <summary>Waits up to a minute for the job to be completed or failed in <c>GET /api/1.0/jobs</c>, and checks it ended <paramref name="status"/>.</summary>
    public static async Task<JsonElement> WaitForJobAsync(HttpClient client, string module, long id, string status)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        JsonElement job = default;
        while (DateTime.UtcNow < deadline)
        {
            var (_, jobs, _) = await client.GetJsonAsync($"/api/1.0/jobs?module={module}");
            job = jobs.GetProperty("jobs").EnumerateArray().FirstOrDefault(j => j.GetProperty("id").GetInt64() == id);
            if (job.ValueKind == JsonValueKind.Object && job.GetProperty("status").GetString() is "completed" or "failed")
            {
                break;
            }

            await Task.Delay(200);
        }

        job.ValueKind.ShouldBe(JsonValueKind.Object, $"job {id} is not listed");
        job.GetProperty("status").GetString().ShouldBe(status, job.ToString());
        return job;
    }

    public static byte[] TarGz(params (string Name, string Content)[] files)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in files)
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
                tar.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }
}
