"""The Neural Style Transfer dialog's live preview (GTK; imported only by the dialog).

The selected layer, scaled to nst_jobs.PREVIEW_SIZE (with its region: the engine keeps the
content outside it), stylised with the dialog's current settings by one engine process kept for
the dialog's lifetime (``serve``, nst_client.PreviewEngine): the network is loaded once and the
style's statistics are reused while the style stays the same. Setting changes are debounced;
a newer preview cancels the running one in the engine; the engine's output is read with a
GLib IO watch, so the dialog never waits for it. close() stops and reaps the engine.

``NST_PREVIEW_TRACE=FOLDER`` (tests, measurements): a JSON line per event in
FOLDER/trace.jsonl (seconds since the dialog opened, what was shown, where on screen), and
a copy of every picture shown.
"""
import collections
import dataclasses
import json
import os
import shutil
import sys
import time

import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402

import nst_client  # noqa: E402
import nst_config  # noqa: E402
import nst_jobs  # noqa: E402
import nst_progress  # noqa: E402
import nst_tempdirs  # noqa: E402
from nst_contract import events  # noqa: E402
from nst_contract.process import tail  # noqa: E402
from nst_errors import NstError, format_engine_error  # noqa: E402

RGB = "R'G'B' u8"
WATCH = GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR

# The GIMP calls the preview shares with the run (neural-style-transfer.py holds them): the
# layer to stylise, the style (kind, layer or path) and its file, the region for a layer and its
# mask, and reading a drawable's pixels (scaled by GEGL).
GimpSide = collections.namedtuple("GimpSide", "target_layer style_choice style_png choose_region region_mask read")


class EngineStart:
    """The preview's engine, started before the dialog is built: importing torch and loading the
    network take seconds, and GIMP takes about one more to build and show the dialog, so the two
    overlap. Holds the run folder, the engine (or the error that kept it from starting) and
    when it started; close() stops the engine and removes the folder. close() is called twice:
    by the preview when the dialog ends, and by the procedure in case the dialog failed before
    the preview took the engine over; the second call does nothing."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.run, self.engine, self.error = nst_tempdirs.RunDir(None), None, None
        self.closed = False
        try:
            cfg = nst_config.load_config()
            self.run = nst_tempdirs.RunDir(nst_tempdirs.temp_root(cfg)).__enter__()
            self.engine = nst_client.PreviewEngine(cfg, self.run.file("preview-engine.log"),
                                                   nst_client.popen_kwargs(cfg, self.run.path))
        except NstError as e:
            self.error = e

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.engine is not None:
            self.engine.close()
        self.run.__exit__(None, None, None)


def attach(dialog, config, image, drawables, started, gimp):
    """Add the preview to ``dialog`` (beside its fields), with the engine ``started`` (an
    EngineStart) and ``gimp`` (a GimpSide); returns the preview (its close() ends it and the
    engine)."""
    return Preview(dialog, config, image, drawables, started, gimp)


def _save_png(data, size, path, gray=False):
    """R'G'B' u8 pixels, or one-byte ``gray`` ones (a mask), as a PNG."""
    w, h = size
    if gray:   # GdkPixbuf has RGB only: each value thrice
        rgb = bytearray(3 * w * h)
        rgb[0::3] = rgb[1::3] = rgb[2::3] = data
        data = bytes(rgb)
    pix = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, False, 8,
                                          w, h, 3 * w)
    pix.savev(path, "png", [], [])


class Panel:
    """The preview's widgets: the picture, a progress bar and a message, in a frame beside the
    dialog's fields."""

    def __init__(self, dialog):
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
        self.frame = Gtk.Frame(label=f"Preview ({nst_jobs.PREVIEW_SIZE} px, quick)")
        self.frame.add(box)
        self._beside_fields(dialog)

    def _beside_fields(self, dialog):
        """Beside the fields, not under them: the dialog stays as tall as it was. The fields
        (each packed into the content area by fill()) move, in order, into a column."""
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

    def say(self, text, fraction=None):
        self.label.set_text(text)
        if fraction is not None:
            self.bar.set_fraction(fraction)

    def show(self, path):
        """Show the picture at ``path``; False when it cannot be read."""
        try:
            self.picture.set_from_pixbuf(GdkPixbuf.Pixbuf.new_from_file(path))
        except GLib.Error:
            return False   # a snapshot replaced while we read it: the next one comes
        return True


class Preview:
    """The preview's jobs: inputs exported at the preview's size, a job per settings change
    (debounced), the engine's events shown as they come."""

    def __init__(self, dialog, config, image, drawables, started, gimp):
        self.t0 = time.monotonic()
        self.config, self.image, self.gimp = config, image, gimp
        self.started, self.run, self.engine = started, started.run, None
        self.watch = self.timer = None
        self.job = 0
        self.style_key = self.style_path = self.last_job = None
        self.shown = 0
        self.panel = Panel(dialog)
        self.trace = Trace(self, os.environ.get("NST_PREVIEW_TRACE"))
        self.notify = config.connect("notify", self._on_notify)
        dialog.connect("map", lambda *_: self.trace.line("dialog shown"))
        try:
            if started.error is not None:
                raise started.error
            self.layer = gimp.target_layer(image, drawables)
            self._export_content()
            self.engine = started.engine
            self.watch = GLib.io_add_watch(self.engine.fileno(), GLib.PRIORITY_DEFAULT, WATCH,
                                           self._on_output)
        except NstError as e:
            self.panel.say(str(e))
            return
        self.trace.line("attached", engine_pid=self.engine.proc.pid,
                        engine_started=round(started.t0 - self.t0, 3))
        self._submit()

    # ------------------------------------------------------------------ inputs
    def _export_content(self):
        w, h = self.layer.get_width(), self.layer.get_height()
        self.size = nst_jobs.preview_size(w, h)
        self.content = self.run.file("preview-content.png")
        _save_png(self.gimp.read(self.layer, (0, 0, w, h), RGB, size=self.size), self.size, self.content)

    def _mask(self):
        """The region's mask at the preview's size (a PNG), or None for the whole layer."""
        region = self.gimp.choose_region(self.image, self.layer, self.config)
        data = self.gimp.region_mask(self.image, self.layer, region, self.size)
        if data is None:
            return None
        path = self.run.file(f"preview-mask-{region}.png")
        _save_png(data, self.size, path, gray=True)
        return path

    def _style(self):
        kind, style = self.gimp.style_choice(self.config)
        key = (kind, style.get_id() if kind == "layer" else style)
        if key != self.style_key:   # a style layer is exported once, not at every change
            path = self.run.file(f"preview-style-{self.job + 1}.png")
            self.style_path = self.gimp.style_png(kind, style, path)[0]
            self.style_key = key
        return self.style_path

    # ------------------------------------------------------------------ jobs
    def _on_notify(self, config, pspec):
        if pspec.name in nst_jobs.PREVIEW_SETTINGS and self.engine is not None:
            self.trace.line("changed", setting=pspec.name)
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
            self.panel.say(str(e), 0.0)
            return False
        self.panel.say("Updating..." if self.shown else "Starting the engine...", 0.0)
        self.trace.line("submit", strength=job.strength)
        return False

    def _on_output(self, fd, condition):
        new, ended = self.engine.read_events()
        for ev in new:
            self._event(ev)
        if ended:
            self.watch = None
            self.panel.say("The preview engine stopped:\n" + tail(self.engine.stderr_path, 5), 0.0)
            return False
        return True

    def _event(self, ev):
        event, bar = events.typed(ev), self.panel.bar
        frac = nst_progress.progress_fraction(ev)
        if frac is not None:
            bar.set_fraction(frac)
        if isinstance(event, events.Progress):
            bar.set_text(f"step {event.step}/{event.steps}")
        elif isinstance(event, events.Snapshot):
            self._show(event.path, event.KIND)
        elif isinstance(event, events.Done):
            self._show(event.output, event.KIND)
            bar.set_text(f"done in {event.seconds or 0:.1f} s")
            self.panel.say("")
        elif isinstance(event, events.Error) and event.code != "cancelled":
            self.panel.say(format_engine_error(str(event.message or ""), str(event.code)), 0.0)
            bar.set_text("failed")

    def _show(self, path, kind):
        if self.panel.show(path):
            self.shown += 1
            self.trace.shown(path, kind)

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
            self.trace.line("closed", engine_returncode=self.engine.proc.returncode)
        sys.stderr.flush()


class Trace:
    """``NST_PREVIEW_TRACE=FOLDER`` (tests, measurements): a JSON line per event in
    FOLDER/trace.jsonl, and a copy of every picture shown with where it is on screen."""

    def __init__(self, preview, folder):
        self.preview, self.folder = preview, folder

    def line(self, what, **info):
        if not self.folder:
            return
        p = self.preview
        line = {"t": round(time.monotonic() - p.t0, 3), "what": what, "job": p.job, **info}
        with open(os.path.join(self.folder, "trace.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")

    def shown(self, path, kind):
        if not self.folder:
            return
        copy = os.path.join(self.folder, f"shown-{os.getpid()}-{self.preview.shown:03d}.png")
        shutil.copyfile(path, copy)
        GLib.idle_add(self._shown_drawn, kind, copy)   # once it is drawn

    def _shown_drawn(self, kind, copy):
        panel, config = self.preview.panel, self.preview.config
        pix = panel.picture.get_pixbuf()
        scales = []
        stack = [panel.picture.get_toplevel()]
        while stack:
            widget = stack.pop()
            if isinstance(widget, Gtk.Scale):
                scales.append(_screen_rect(widget))
            if isinstance(widget, Gtk.Container):
                stack.extend(widget.get_children())
        ok = panel.dialog.get_widget_for_response(Gtk.ResponseType.OK)
        self.line("shown", kind=kind, copy=copy, strength=config.get_property("strength"),
                  picture=_screen_rect(panel.picture, pix.get_width(), pix.get_height()),
                  scales=scales, ok=_screen_rect(ok) if ok is not None else None)
        return False


def _screen_rect(widget, w=None, h=None):
    """Where ``widget`` (or a w x h picture centred in it) is on the screen."""
    top = widget.get_toplevel()
    x, y = widget.translate_coordinates(top, 0, 0)
    _ok, ox, oy = top.get_window().get_origin()
    a = widget.get_allocation()
    w, h = (a.width, a.height) if w is None else (w, h)
    return [ox + x + (a.width - w) // 2, oy + y + (a.height - h) // 2, w, h]
