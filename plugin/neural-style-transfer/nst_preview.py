"""The Neural Style Transfer dialog's live preview (GTK; imported only by the dialog).

The selected layer, scaled to nst_client.PREVIEW_SIZE (with its region: the engine keeps the
content outside it), stylised with the dialog's current settings by one engine process kept for
the dialog's lifetime (``serve``, nst_client.PreviewEngine): the network is loaded once and the
style's statistics are reused while the style stays the same. Setting changes are debounced;
a newer preview cancels the running one in the engine; the engine's output is read with a
GLib IO watch, so the dialog never waits for it. close() stops and reaps the engine.

``NST_PREVIEW_TRACE=FOLDER`` (tests, measurements): a JSON line per event in
FOLDER/trace.jsonl (seconds since the dialog opened, what was shown, where on screen), and
a copy of every picture shown.
"""
import dataclasses
import json
import os
import shutil
import sys
import time

import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, Gegl, Gimp, GLib, Gtk  # noqa: E402

import nst_client  # noqa: E402
import nst_config  # noqa: E402
import nst_jobs  # noqa: E402
import nst_progress  # noqa: E402
import nst_regions  # noqa: E402
import nst_tempdirs  # noqa: E402
from nst_errors import NstError, RegionError, format_engine_error  # noqa: E402

RGB = "R'G'B' u8"
WATCH = GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR


class EngineStart:
    """The preview's engine, started before the dialog is built: importing torch and loading the
    network take seconds, and GIMP takes about one more to build and show the dialog, so the two
    overlap. Holds the run folder, the engine (or the error that kept it from starting) and
    when it started; close() stops the engine and removes the folder (once)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.run, self.engine, self.error = nst_tempdirs.RunDir(None), None, None
        try:
            cfg = nst_config.load_config()
            self.run = nst_tempdirs.RunDir(nst_tempdirs.temp_root(cfg)).__enter__()
            self.engine = nst_client.PreviewEngine(cfg, self.run.file("preview-engine.log"),
                                           nst_client.popen_kwargs(cfg, self.run.path))
        except NstError as e:
            self.error = e

    def close(self):
        if self.engine is not None:
            self.engine.close()
        self.run.__exit__(None, None, None)


def attach(dialog, config, image, drawables, target_layer, style_choice, style_png, started):
    """Add the preview to ``dialog`` (beside its fields), with the engine ``started`` (an
    EngineStart); returns the preview (its close() ends it and the engine)."""
    return Preview(dialog, config, image, drawables, target_layer, style_choice, style_png, started)


def _read_scaled(drawable, rect, size, fmt=RGB):
    """``rect`` (x, y, w, h in the drawable's coordinates) scaled to ``size`` (w, h): GEGL's
    own downscaling, without a copy of the full-size pixels."""
    x, y, w, _h = rect
    s = size[0] / w
    r = Gegl.Rectangle.new(round(x * s), round(y * s), size[0], size[1])
    return bytes(drawable.get_buffer().get(r, s, fmt, Gegl.AbyssPolicy.NONE))


def _save_png(data, size, path):
    w, h = size
    pix = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, False, 8,
                                          w, h, 3 * w)
    pix.savev(path, "png", [], [])


class Preview:
    def __init__(self, dialog, config, image, drawables, target_layer, style_choice, style_png, started):
        self.t0 = time.monotonic()
        self.config, self.image = config, image
        self.style_choice, self.style_png = style_choice, style_png
        self.started, self.run, self.engine = started, started.run, None
        self.watch = self.timer = None
        self.job = 0
        self.style_key = self.style_path = self.last_job = None
        self.shown = 0
        self.trace_dir = os.environ.get("NST_PREVIEW_TRACE")
        self._build(dialog)
        self.notify = config.connect("notify", self._on_notify)
        dialog.connect("map", lambda *_: self._trace("dialog shown"))
        try:
            if started.error is not None:
                raise started.error
            self.layer = target_layer(image, drawables)
            self._export_content()
            self.engine = started.engine
            self.watch = GLib.io_add_watch(self.engine.fileno(), GLib.PRIORITY_DEFAULT, WATCH,
                                           self._on_output)
        except NstError as e:
            self._say(str(e))
            return
        self._trace("attached", engine_pid=self.engine.proc.pid,
                    engine_started=round(started.t0 - self.t0, 3))
        self._submit()

    # ------------------------------------------------------------------ widgets
    def _build(self, dialog):
        self.dialog = dialog
        self.picture = Gtk.Image()
        self.picture.set_size_request(nst_jobs.PREVIEW_SIZE, nst_jobs.PREVIEW_SIZE)
        self.bar = Gtk.ProgressBar(show_text=True)
        self.bar.set_text("Preview")
        self.label = Gtk.Label(wrap=True, max_width_chars=36, xalign=0.0)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, border_width=6)
        box.pack_start(self.picture, False, False, 0)
        box.pack_start(self.bar, False, False, 0)
        box.pack_start(self.label, False, False, 0)
        self.frame = Gtk.Frame(label="Preview (256 px, quick)")
        self.frame.add(box)
        # Beside the fields, not under them: the dialog stays as tall as it was. The fields
        # (each packed into the content area by fill()) move, in order, into a column.
        content = dialog.get_content_area()
        column = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=content.get_spacing())
        for child in content.get_children():
            expand, fill, padding, _pack = content.query_child_packing(child)
            content.remove(child)
            column.pack_start(child, expand, fill, padding)
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
        row.pack_start(column, True, True, 0)
        row.pack_start(self.frame, False, False, 0)
        content.pack_start(row, True, True, 0)
        row.show_all()
        # With the fields moved, GTK's first focus lands on a field, where Return no longer
        # reaches OK: start with OK focused, so Return is OK and Escape Cancel, as before.
        ok = dialog.get_widget_for_response(Gtk.ResponseType.OK)
        if ok is not None:
            dialog.connect_after("map", lambda *_: ok.grab_focus())

    def _say(self, text, fraction=None):
        self.label.set_text(text)
        if fraction is not None:
            self.bar.set_fraction(fraction)

    # ------------------------------------------------------------------ inputs
    def _export_content(self):
        w, h = self.layer.get_width(), self.layer.get_height()
        self.size = nst_jobs.preview_size(w, h)
        self.content = self.run.file("preview-content.png")
        _save_png(_read_scaled(self.layer, (0, 0, w, h), self.size), self.size, self.content)

    def _mask(self):
        """The region's mask at the preview's size (a PNG), or None for the whole layer."""
        ok, off_x, off_y = self.layer.get_offsets()
        layer_rect = (off_x, off_y, self.layer.get_width(), self.layer.get_height())
        mask_drawable = self.layer.get_mask()
        sel = None
        if not Gimp.Selection.is_empty(self.image):
            ok, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(self.image)
            if non_empty:
                sel = (x1, y1, x2 - x1, y2 - y1)
        region = nst_regions.choose_region(self.config.get_property("region") or "auto",
                                  mask_drawable is not None, sel, layer_rect)
        if region == "none":
            return None
        if region == "mask":
            data = _read_scaled(mask_drawable, (0, 0) + layer_rect[2:], self.size)
        else:
            data = _read_scaled(self.image.get_selection(), layer_rect, self.size)
        if nst_regions.mask_is_empty(data):
            raise RegionError("Nothing to stylise: the region is empty. Choose another region.")
        path = self.run.file(f"preview-mask-{region}.png")
        _save_png(data, self.size, path)
        return path

    def _style(self):
        kind, style = self.style_choice(self.config)
        key = (kind, style.get_id() if kind == "layer" else style)
        if key != self.style_key:   # a style layer is exported once, not at every change
            self.style_path = self.style_png(kind, style, self.run.file(f"preview-style-{self.job + 1}.png"))[0]
            self.style_key = key
        return self.style_path

    # ------------------------------------------------------------------ jobs
    def _on_notify(self, config, pspec):
        if pspec.name in nst_jobs.PREVIEW_SETTINGS and self.engine is not None:
            self._trace("changed", setting=pspec.name)
            if self.timer is not None:
                GLib.source_remove(self.timer)
            self.timer = GLib.timeout_add(nst_jobs.PREVIEW_DEBOUNCE_MS, self._submit)

    def _submit(self):
        self.timer = None
        try:
            job = nst_jobs.preview_job(self.content, self._style(), "", self.size, self._mask(),
                                 self.config.get_property("strength"),
                                 self.config.get_property("preserve-color"),
                                 self.config.get_property("seed"))
            if job == self.last_job:   # a notify that changed nothing the preview shows
                return False
            self.last_job = dataclasses.replace(job)
            job.output = self.run.file(f"preview-{self.job + 1}.png")
            self.job = self.engine.submit(job)
        except NstError as e:
            self._say(str(e), 0.0)
            return False
        self._say("Updating..." if self.shown else "Starting the engine...", 0.0)
        self._trace("submit", job=self.job, strength=job.strength)
        return False

    def _on_output(self, fd, condition):
        events, ended = self.engine.read_events()
        for ev in events:
            self._event(ev)
        if ended:
            self.watch = None
            self._say("The preview engine stopped:\n" + nst_client.tail(self.engine.stderr_path, 5), 0.0)
            return False
        return True

    def _event(self, ev):
        kind = ev.get("event")
        frac = nst_progress.progress_fraction(ev)
        if frac is not None:
            self.bar.set_fraction(frac)
        if kind == "progress":
            self.bar.set_text(f"step {ev.get('step')}/{ev.get('steps')}")
        elif kind in ("snapshot", "done"):
            self._show(ev["path" if kind == "snapshot" else "output"], kind)
            if kind == "done":
                self.bar.set_text(f"done in {ev.get('seconds', 0):.1f} s")
                self._say("")
        elif kind == "error" and ev.get("code") != "cancelled":
            self._say(format_engine_error(str(ev.get("message", "")), str(ev.get("code"))), 0.0)
            self.bar.set_text("failed")

    def _show(self, path, kind):
        try:
            self.picture.set_from_pixbuf(GdkPixbuf.Pixbuf.new_from_file(path))
        except GLib.Error:
            return   # a snapshot replaced while we read it: the next one comes
        self.shown += 1
        if self.trace_dir:
            copy = os.path.join(self.trace_dir, f"shown-{os.getpid()}-{self.shown:03d}.png")
            shutil.copyfile(path, copy)
            GLib.idle_add(self._trace_shown, kind, copy)   # once it is drawn

    # ------------------------------------------------------------------ test/measurement trace
    def _trace(self, what, **info):
        if not self.trace_dir:
            return
        line = {"t": round(time.monotonic() - self.t0, 3), "what": what, "job": self.job, **info}
        with open(os.path.join(self.trace_dir, "trace.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")

    def _screen_rect(self, widget, w=None, h=None):
        """Where ``widget`` (or a w x h picture centred in it) is on the screen."""
        top = widget.get_toplevel()
        x, y = widget.translate_coordinates(top, 0, 0)
        _ok, ox, oy = top.get_window().get_origin()
        a = widget.get_allocation()
        w, h = (a.width, a.height) if w is None else (w, h)
        return [ox + x + (a.width - w) // 2, oy + y + (a.height - h) // 2, w, h]

    def _trace_shown(self, kind, copy):
        pix = self.picture.get_pixbuf()
        scales = []
        stack = [self.picture.get_toplevel()]
        while stack:
            widget = stack.pop()
            if isinstance(widget, Gtk.Scale):
                scales.append(self._screen_rect(widget))
            if isinstance(widget, Gtk.Container):
                stack.extend(widget.get_children())
        ok = self.dialog.get_widget_for_response(Gtk.ResponseType.OK)
        self._trace("shown", kind=kind, copy=copy, strength=self.config.get_property("strength"),
                    picture=self._screen_rect(self.picture, pix.get_width(), pix.get_height()),
                    scales=scales, ok=self._screen_rect(ok) if ok is not None else None)
        return False

    # ------------------------------------------------------------------ end
    def close(self):
        """Stop everything: timers, the IO watch, the engine (reaped), the temp folder."""
        self.config.disconnect(self.notify)
        for source in (self.timer, self.watch):
            if source is not None:
                GLib.source_remove(source)
        self.timer = self.watch = None
        self.started.close()
        if self.engine is not None:
            self._trace("closed", engine_returncode=self.engine.proc.returncode)
        sys.stderr.flush()
