using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Intake.Core.Ports;
using Intake.Engine.Mail;
using Intake.Storage;

namespace Intake.Engine.Tests.Mail;

/// <summary>
/// Every message of <c>Mail/Corpus/</c> taken apart, compared with its <c>.expected.json</c>: the files in order with the
/// manifest fields the expectation names (and, with <c>text</c>, the file's exact content as UTF-8, or with <c>hex</c>
/// its bytes), the messages, the warnings (each expected one a piece of one actual, and no others), or the error.
/// An expectation may set <c>limits</c> (<c>max_attachments</c>, <c>max_depth</c>) for its message.
/// </summary>
public sealed class MailCorpusTests : IDisposable
{
    private static readonly string CorpusDirectory = Path.Combine(AppContext.BaseDirectory, "Mail", "Corpus");
    private readonly string _root = Directory.CreateTempSubdirectory("intake-mail-corpus-").FullName;

    public static TheoryData<string> Messages()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(CorpusDirectory, "*.eml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Fact]
    public void Corpus_HoldsAtLeastTwentyMessagesEachWithItsExpectation()
    {
        var messages = Directory.GetFiles(CorpusDirectory, "*.eml");
        messages.Length.ShouldBeGreaterThanOrEqualTo(20);
        foreach (var message in messages)
        {
            File.Exists(Path.ChangeExtension(message, ".expected.json")).ShouldBeTrue($"{Path.GetFileName(message)} has no expectation");
        }
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public async Task Extract_CorpusMessage_WritesTheExpectedParts(string name)
    {
        var expected = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(CorpusDirectory, Path.ChangeExtension(name, ".expected.json"))))!.AsObject();
        var limits = new MailExtractLimits();
        if (expected["limits"] is JsonObject l)
        {
            limits = limits with
            {
                MaxAttachments = l["max_attachments"]?.GetValue<int>() ?? limits.MaxAttachments,
                MaxDepth = l["max_depth"]?.GetValue<int>() ?? limits.MaxDepth,
            };
        }

        var store = new LocalDirectoryStore("test", _root, TimeProvider.System);
        var prefix = $"loads/{Path.GetFileNameWithoutExtension(name)}/";
        await using var input = File.OpenRead(Path.Combine(CorpusDirectory, name));
        MailManifest manifest;
        try
        {
            manifest = await new MailExtractor(limits).ExtractAsync(input, name, store, Areas.Work, prefix, default);
        }
        catch (IntakeException e) when (expected["error"] is JsonObject error)
        {
            e.Kind.ToWord().ShouldBe(error["kind"]!.GetValue<string>());
            foreach (var piece in error["contains"]!.AsArray())
            {
                e.Message.ShouldContain(piece!.GetValue<string>());
            }

            return;
        }

        var actual = JsonNode.Parse(JsonSerializer.Serialize(manifest, MailManifest.Json))!.AsObject();
        expected["error"].ShouldBeNull($"expected an error, got {actual.ToJsonString()}");

        var parts = actual["parts"]!.AsArray();
        var expectedParts = expected["parts"]!.AsArray();
        parts.Select(p => p!["path"]!.GetValue<string>()).ShouldBe(expectedParts.Select(p => p!["path"]!.GetValue<string>()), $"the files of {name}: {actual.ToJsonString()}");
        for (var i = 0; i < parts.Count; i++)
        {
            var path = parts[i]!["path"]!.GetValue<string>();
            foreach (var (key, value) in expectedParts[i]!.AsObject())
            {
                switch (key)
                {
                    case "text":
                        Encoding.UTF8.GetString(await ReadAsync(store, prefix + path)).ShouldBe(value!.GetValue<string>(), $"{path}'s content");
                        break;
                    case "hex":
                        Convert.ToHexStringLower(await ReadAsync(store, prefix + path)).ShouldBe(value!.GetValue<string>(), $"{path}'s bytes");
                        break;
                    default:
                        Same(parts[i]![key], value).ShouldBeTrue($"{path}.{key}: expected {value?.ToJsonString() ?? "null"}, got {parts[i]![key]?.ToJsonString() ?? "null"}");
                        break;
                }
            }

            // What the manifest says of a file is what the file is.
            var stored = await store.StatAsync(Areas.Work, prefix + path, default);
            stored.ShouldNotBeNull();
            stored.Size.ShouldBe(parts[i]!["size"]!.GetValue<long>());
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await ReadAsync(store, prefix + path))).ShouldBe(parts[i]!["sha256"]!.GetValue<string>());
        }

        if (expected["messages"] is JsonArray expectedMessages)
        {
            var messages = actual["messages"]!.AsArray();
            messages.Count.ShouldBe(expectedMessages.Count, $"the messages of {name}: {messages.ToJsonString()}");
            for (var i = 0; i < messages.Count; i++)
            {
                foreach (var (key, value) in expectedMessages[i]!.AsObject())
                {
                    Same(messages[i]![key], value).ShouldBeTrue($"message {i}.{key}: expected {value?.ToJsonString() ?? "null"}, got {messages[i]![key]?.ToJsonString() ?? "null"}");
                }
            }
        }

        var warnings = manifest.Warnings;
        var expectedWarnings = expected["warnings"]?.AsArray().Select(w => w!.GetValue<string>()).ToList() ?? [];
        warnings.Count.ShouldBe(expectedWarnings.Count, $"warnings of {name}: {string.Join(" | ", warnings)}");
        for (var i = 0; i < warnings.Count; i++)
        {
            warnings[i].ShouldContain(expectedWarnings[i]);
        }

        // The manifest is saved beside the parts, and reads back as it was returned.
        var saved = await MailManifest.ReadAsync(store, Areas.Work, prefix, default);
        JsonSerializer.Serialize(saved, MailManifest.Json).ShouldBe(JsonSerializer.Serialize(manifest, MailManifest.Json));

        // Nothing but the parts and the manifest, and all of it under the prefix: no hostile name got out.
        var listed = new List<string>();
        await foreach (var o in store.ListAsync(Areas.Work, "", default))
        {
            listed.Add(o.Key);
        }

        listed.Order(StringComparer.Ordinal).ShouldBe(parts.Select(p => prefix + p!["path"]!.GetValue<string>()).Append(prefix + MailManifest.FileName).Order(StringComparer.Ordinal));
        Directory.GetFileSystemEntries(_root).Select(Path.GetFileName).Where(n => n![0] != '.').ShouldBe(["work"]);
    }

    private static bool Same(JsonNode? actual, JsonNode? expected) =>
        expected is null ? actual is null : actual is not null && JsonNode.DeepEquals(actual, expected);

    private static async Task<byte[]> ReadAsync(IObjectStore store, string key)
    {
        await using var stream = await store.OpenReadAsync(Areas.Work, key, default);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
