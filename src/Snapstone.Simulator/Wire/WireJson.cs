using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapstone.Simulator.Wire;

/// <summary>camelCase JSON as in docs/API.md; nulls are left out, unknown fields in answers are ignored.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ReportBatch))]
[JsonSerializable(typeof(ReportBatchAnswer))]
public sealed partial class WireJson : JsonSerializerContext;
