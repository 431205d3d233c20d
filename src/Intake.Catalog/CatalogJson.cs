using System.Text.Json.Serialization;

namespace Intake.Catalog;

/// <summary>
/// The JSON columns' shapes (a step's outputs), source-generated: the reflection-based serializer emits and compiles
/// code at first use, a cost every short-lived command (one `intake mail` per message) paid to record one step.
/// </summary>
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class CatalogJson : JsonSerializerContext;
