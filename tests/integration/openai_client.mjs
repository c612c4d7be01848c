// The official `openai` npm client against `belt serve` (run by test_openai_node.py, which
// installs the pinned package next to a copy of this file). Prints one JSON object.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BELT_BASE_URL, apiKey: "sk-test-belt",
                            maxRetries: 0, timeout: 20000 });
const out = {};

const chat = await client.chat.completions.create({
  model: "m1", messages: [{ role: "user", content: "Say hello." }], max_tokens: 16 });
out.chat = { content: chat.choices[0].message.content, id: chat.id,
             usage: chat.usage, finish: chat.choices[0].finish_reason };

const raw = await client.chat.completions.create({
  model: "m1", messages: [{ role: "user", content: "Say hello." }] }).withResponse();
out.headers = { model: raw.response.headers.get("x-belt-model"),
                cost: raw.response.headers.get("x-belt-cost-usd"),
                trace: raw.response.headers.get("x-belt-trace-id") };

const stream = await client.chat.completions.create({
  model: "m1", stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: "Stream please." }] });
let text = "", chunks = 0, usage = null, finish = null;
for await (const c of stream) {
  chunks++;
  if (c.usage) usage = c.usage;
  for (const ch of c.choices) {
    text += ch.delta?.content ?? "";
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
out.stream = { text, chunks, usage, finish };

const tool = await client.chat.completions.create({
  model: "tools", messages: [{ role: "user", content: "Weather in Paris?" }],
  tools: [{ type: "function", function: { name: "get_weather",
            parameters: { type: "object", properties: { city: { type: "string" } } } } }] });
const call = tool.choices[0].message.tool_calls[0];
out.tool = { name: call.function.name, args: JSON.parse(call.function.arguments),
             finish: tool.choices[0].finish_reason };

try {
  await client.chat.completions.create({ model: "no-such-model",
                                         messages: [{ role: "user", content: "x" }] });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, code: e.code ?? e.error?.code, type: e.type ?? e.error?.type };
}

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

console.log(JSON.stringify(out));
