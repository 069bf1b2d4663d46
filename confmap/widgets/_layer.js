// confmap's live layer (see confmap/widgets/_layer.py): the map (the block of its non-zero bytes)
// blended over the image's colours, the points and the lines, drawn over the axes of the ipympl
// figure in the same grid cell.
// Transparent to the mouse: clicks, the toolbar and navigation stay ipympl's.

const DPR = () => window.devicePixelRatio || 1;

function bytesOf(view) {
  if (!view) return new Uint8Array(0);
  if (view instanceof Uint8Array) return view;
  if (view instanceof ArrayBuffer) return new Uint8Array(view);
  if (view.buffer) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return new Uint8Array(0);
}

function marker(ctx, kind, x, y, d, edge) {
  const r = d / 2;
  ctx.beginPath();
  if (kind === "s") {
    ctx.rect(x - r * 0.9, y - r * 0.9, 1.8 * r * 0.9, 1.8 * r * 0.9);
  } else if (kind === "^") {
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r * 0.95, y + r * 0.75);
    ctx.lineTo(x - r * 0.95, y + r * 0.75);
    ctx.closePath();
  } else if (kind === "X") {
    const a = r * 0.8;
    const colour = ctx.fillStyle;
    ctx.lineCap = "butt";
    for (const [w, style] of [[d * 0.34 + 2 * edge, "#000"], [d * 0.34, colour]]) {
      ctx.beginPath();
      ctx.moveTo(x - a, y - a); ctx.lineTo(x + a, y + a);
      ctx.moveTo(x - a, y + a); ctx.lineTo(x + a, y - a);
      ctx.lineWidth = w; ctx.strokeStyle = style; ctx.stroke();
    }
    return;
  } else {
    ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
  ctx.fill();
  ctx.lineWidth = edge; ctx.strokeStyle = "#000"; ctx.stroke();
}

function render({ model, el }) {
  el.classList.add("confmap-layer");
  Object.assign(el.style, { position: "relative", width: "0px", height: "0px", overflow: "visible", pointerEvents: "none" });
  const canvas = document.createElement("canvas");
  // z-index 0, later in the page than ipympl's image canvas (z 0): over the figure's image, under
  // ipympl's top canvas (z 1: the zoom rectangle) and its toolbar
  Object.assign(canvas.style, { position: "absolute", left: "0px", top: "0px", pointerEvents: "none", zIndex: "0" });
  el.appendChild(canvas);
  const src = document.createElement("canvas");  // the blended image on its display grid
  let pixelsDirty = true, pending = false, observed = null, frames = 0, alive = true;
  const resize = new ResizeObserver(() => { geom = null; schedule(); });

  function figureCanvas() {
    const cell = el.closest(".confmap-figure-stack") || el.parentElement;
    return cell ? cell.querySelector(".jupyter-matplotlib-canvas-div canvas") : null;
  }

  function compose() {
    const [h, w] = model.get("shape");
    const base = bytesOf(model.get("base")), values = bytesOf(model.get("values")), lut = bytesOf(model.get("lut"));
    if (!h || !w || base.length !== h * w * 3) return false;
    if (src.width !== w || src.height !== h) { src.width = w; src.height = h; }
    const ctx = src.getContext("2d");
    const img = ctx.createImageData(w, h), out = img.data;
    // the map's bytes cover the block [br, br + bh) x [bc, bc + bw) of the grid; zero elsewhere
    const [br, bc, bh, bw] = model.get("values_box") || [0, 0, 0, 0];
    const withMap = bh > 0 && bw > 0 && values.length === bh * bw && lut.length === 768;
    const k = model.get("opacity") / 255;
    for (let r = 0, j = 0, o = 0; r < h; r++) {
      const inRows = withMap && r >= br && r < br + bh;
      for (let c = 0; c < w; c++, j += 3, o += 4) {
        const v = inRows && c >= bc && c < bc + bw ? values[(r - br) * bw + (c - bc)] : 0;
        if (v > 0) {
          const a = k * v, l = 3 * v;
          // the same formula as _overlay.blend; Uint8ClampedArray rounds to the nearest byte
          out[o] = base[j] + a * (lut[l] - base[j]);
          out[o + 1] = base[j + 1] + a * (lut[l + 1] - base[j + 1]);
          out[o + 2] = base[j + 2] + a * (lut[l + 2] - base[j + 2]);
        } else {
          out[o] = base[j]; out[o + 1] = base[j + 1]; out[o + 2] = base[j + 2];
        }
        out[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    return true;
  }

  // The canvas's place over the axes, in CSS px: measured again only when the figure, the axes' box
  // or a size changes (a drag's frames then force no layout).
  let geom = null;
  function place(fig) {
    const fr = fig.getBoundingClientRect(), er = el.getBoundingClientRect();
    if (fr.width === 0 || fr.height === 0) return null;  // sized later: the observer calls back
    const [bx0, by0, bx1, by1] = model.get("box");
    const left = fr.left - er.left + bx0 * fr.width, top = fr.top - er.top + (1 - by1) * fr.height;
    const cw = (bx1 - bx0) * fr.width, ch = (by1 - by0) * fr.height;
    const dpr = DPR();
    const pw = Math.max(1, Math.round(cw * dpr)), ph = Math.max(1, Math.round(ch * dpr));
    if (canvas.width !== pw || canvas.height !== ph) { canvas.width = pw; canvas.height = ph; }
    Object.assign(canvas.style, { left: `${left}px`, top: `${top}px`, width: `${cw}px`, height: `${ch}px` });
    return { pw, ph, dpr };
  }

  function draw() {
    pending = false;
    if (!alive) return;
    const fig = figureCanvas();
    if (!fig) { setTimeout(schedule, 100); return; }  // the figure's view is not rendered yet
    if (observed !== fig) {
      resize.disconnect();
      resize.observe(fig);
      if (el.parentElement) resize.observe(el.parentElement);
      observed = fig;
      geom = null;
    }
    if (!geom && !(geom = place(fig))) return;
    if (pixelsDirty) { if (!compose()) return; pixelsDirty = false; }
    const { pw, ph, dpr } = geom;
    const ctx = canvas.getContext("2d");
    const [vx0, vx1, vy0, vy1] = model.get("view");  // data at the box's left, right, bottom, top
    const sx = pw / (vx1 - vx0), sy = ph / (vy0 - vy1);
    const px = (x) => (x - vx0) * sx, py = (y) => (y - vy1) * sy;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, pw, ph);
    const [ex0, ex1, ey0, ey1] = model.get("extent");
    ctx.imageSmoothingEnabled = false;
    const X0 = px(ex0), X1 = px(ex1), Y0 = py(ey0), Y1 = py(ey1);
    ctx.save();
    ctx.translate(X0, Y0);
    ctx.scale(Math.sign(X1 - X0) || 1, Math.sign(Y1 - Y0) || 1);
    ctx.drawImage(src, 0, 0, src.width, src.height, 0, 0, Math.abs(X1 - X0), Math.abs(Y1 - Y0));
    ctx.restore();
    for (const line of model.get("lines") || []) {
      const xy = line.xy;
      ctx.beginPath();
      ctx.moveTo(px(xy[0]), py(xy[1]));
      for (let i = 2; i < xy.length; i += 2) ctx.lineTo(px(xy[i]), py(xy[i + 1]));
      ctx.setLineDash((line.dash || []).map((d) => d * dpr));
      ctx.lineWidth = line.width * dpr; ctx.strokeStyle = line.colour; ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const m of model.get("markers") || []) {
      ctx.fillStyle = m.colour;
      for (let i = 0; i < m.xy.length; i += 2) marker(ctx, m.marker, px(m.xy[i]), py(m.xy[i + 1]), m.size * dpr, 0.8 * dpr);
    }
    frames += 1;
    el.dataset.frames = String(frames);
  }

  function schedule() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
  const repixel = () => { pixelsDirty = true; schedule(); };
  for (const name of ["shape", "base", "values", "values_box", "lut", "opacity"]) model.on(`change:${name}`, repixel);
  model.on("change:box", () => { geom = null; schedule(); });
  for (const name of ["extent", "view", "markers", "lines"]) model.on(`change:${name}`, schedule);
  schedule();
  return () => { alive = false; resize.disconnect(); };
}

export default { render };
