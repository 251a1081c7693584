// Loads the LoggerFlow dashboard's wasm bundle and hydrates every island of
// the page (the `<leptos-island data-component=…>` elements the server
// rendered). Adapted from Leptos 0.8's island_script.js.
const version = new URL(import.meta.url).searchParams.get("v") || "";
const mod = await import(`/pkg/loggerflow_ui.js?v=${version}`);
await mod.default({ module_or_path: `/pkg/loggerflow_ui_bg.wasm?v=${version}` });
mod.hydrate();
async function traverse(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  if (node.tagName.toLowerCase() === "leptos-island") {
    const island = mod[node.dataset.component];
    if (island) {
      const done = island(node);
      if (done && done.then) await done;
    } else {
      console.warn(`no island named ${node.dataset.component} in the bundle`);
    }
  }
  for (const child of node.children) await traverse(child);
}
await traverse(document.body);
document.documentElement.dataset.hydrated = "true";
