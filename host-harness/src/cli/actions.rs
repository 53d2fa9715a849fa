//! The actions beyond "Send Message": their flags, and the calls they make.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use host_harness::bindings::{
    BlockedListInput, DownloadInput, FlowInput, GroupCreateInput, GroupInput, GroupRemoveInput,
    InteractiveInput, LocationInput, MediaInput, ReactionInput, ReadInput, TemplateInput,
    UploadInput, UsersInput, flow, groups, interactive, media, template,
};
use host_harness::{Connector, json};
use serde_json::json;

use super::{Failure, answered, answered_by, graph_setup, print_json};
use crate::GraphArgs;

/// `KEY=VALUE`, split at the first `=`; the key may not be empty.
fn pair(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some(("", _)) => Err(format!("expected KEY=VALUE, got {raw:?}: the KEY is empty")),
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None => Err(format!("expected KEY=VALUE, got {raw:?}")),
    }
}

/// `INDEX=VALUE` for a template button.
fn indexed(raw: &str) -> Result<template::ButtonValue, String> {
    let (index, value) = pair(raw)?;
    let index = index
        .parse()
        .map_err(|_| format!("{index:?} is not a button index (0 to 9)"))?;
    Ok(template::ButtonValue { index, value })
}

/// A media ID (digits) or an https link.
fn source(raw: &str) -> template::MediaSource {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        template::MediaSource::Id(raw.to_owned())
    } else {
        template::MediaSource::Link(raw.to_owned())
    }
}

#[derive(Args)]
pub struct TemplateArgs {
    /// Send message to: a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// The approved template's name, e.g. order_update.
    #[arg(long)]
    name: String,
    /// The language the template was approved in, e.g. en_US.
    #[arg(long)]
    language: String,
    /// A positional body parameter ({{1}}, {{2}}, … in order); repeatable.
    #[arg(long, value_name = "TEXT")]
    body_param: Vec<String>,
    /// A named body parameter ({{name}}); repeatable.
    #[arg(long, value_name = "NAME=TEXT", value_parser = pair, conflicts_with = "body_param")]
    named_param: Vec<(String, String)>,
    /// A text header parameter.
    #[arg(long, value_name = "TEXT", group = "header")]
    header_text: Option<String>,
    /// An image header: a media ID or an https link.
    #[arg(long, value_name = "ID_OR_URL", group = "header")]
    header_image: Option<String>,
    /// A video header: a media ID or an https link.
    #[arg(long, value_name = "ID_OR_URL", group = "header")]
    header_video: Option<String>,
    /// A document header: a media ID or an https link.
    #[arg(long, value_name = "ID_OR_URL", group = "header")]
    header_document: Option<String>,
    /// A quick-reply button's payload, by its index; repeatable.
    #[arg(long, value_name = "INDEX=PAYLOAD", value_parser = indexed)]
    quick_reply: Vec<template::ButtonValue>,
    /// A URL button's suffix, by its index; repeatable.
    #[arg(long, value_name = "INDEX=SUFFIX", value_parser = indexed)]
    url_suffix: Vec<template::ButtonValue>,
    /// A FLOW button's flow_token, by its index; repeatable.
    #[arg(long, value_name = "INDEX=TOKEN", value_parser = indexed)]
    flow_token: Vec<template::ButtonValue>,
    /// A FLOW button's flow_action_data (a JSON object), by its index; repeatable.
    #[arg(long, value_name = "INDEX=JSON", value_parser = indexed)]
    flow_data: Vec<template::ButtonValue>,
    /// Send through the Marketing Messages API (/marketing_messages), marketing
    /// templates only.
    #[arg(long)]
    marketing: bool,
    /// The Marketing Messages API's product_policy.
    #[arg(long, requires = "marketing", value_parser = ["cloud-api-fallback", "strict"])]
    product_policy: Option<String>,
    /// The Marketing Messages API's message_activity_sharing.
    #[arg(long, requires = "marketing", value_name = "BOOL")]
    activity_sharing: Option<bool>,
    #[command(flatten)]
    graph: GraphArgs,
}

/// The FLOW buttons named by `--flow-token` and `--flow-data`, one per index, in index
/// order.
fn flow_buttons(
    tokens: Vec<template::ButtonValue>,
    data: Vec<template::ButtonValue>,
) -> Vec<template::ButtonParameter> {
    let mut buttons = std::collections::BTreeMap::new();
    fn button(
        buttons: &mut std::collections::BTreeMap<u8, template::FlowButton>,
        index: u8,
    ) -> &mut template::FlowButton {
        buttons.entry(index).or_insert(template::FlowButton {
            index,
            flow_token: None,
            flow_action_data: None,
        })
    }
    for t in tokens {
        button(&mut buttons, t.index).flow_token = Some(t.value);
    }
    for d in data {
        button(&mut buttons, d.index).flow_action_data = Some(d.value);
    }
    buttons
        .into_values()
        .map(template::ButtonParameter::Flow)
        .collect()
}

pub async fn send_template(connector: &Connector, args: TemplateArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let positional = args.body_param.into_iter().map(|text| (None, text));
    let named = args.named_param.into_iter().map(|(n, t)| (Some(n), t));
    let header = match (
        args.header_text,
        args.header_image,
        args.header_video,
        args.header_document,
    ) {
        (Some(text), ..) => Some(template::HeaderParameter::Text(text)),
        (_, Some(m), ..) => Some(template::HeaderParameter::Image(source(&m))),
        (_, _, Some(m), _) => Some(template::HeaderParameter::Video(source(&m))),
        (.., Some(m)) => Some(template::HeaderParameter::Document(source(&m))),
        _ => None,
    };
    let buttons = args
        .quick_reply
        .into_iter()
        .map(template::ButtonParameter::QuickReply)
        .chain(
            args.url_suffix
                .into_iter()
                .map(template::ButtonParameter::Url),
        )
        .chain(flow_buttons(args.flow_token, args.flow_data))
        .collect();
    let marketing = args.marketing.then(|| template::MarketingOptions {
        product_policy: args.product_policy.as_deref().map(|p| match p {
            "strict" => template::ProductPolicy::Strict,
            _ => template::ProductPolicy::CloudApiFallback,
        }),
        message_activity_sharing: args.activity_sharing,
    });
    let input = TemplateInput {
        send_message_to: args.to,
        template_name: args.name,
        language_code: args.language,
        body_parameters: positional
            .chain(named)
            .map(|(name, text)| template::BodyParameter { name, text })
            .collect(),
        header,
        buttons,
        marketing,
    };
    let output = answered(connector.send_template(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

#[derive(Args)]
pub struct MediaArgs {
    /// Send message to: a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// image, video, audio, document or sticker.
    #[arg(long, value_parser = ["image", "video", "audio", "document", "sticker"])]
    kind: String,
    /// An uploaded media's ID (or give --link).
    #[arg(long)]
    media_id: Option<String>,
    /// An https URL of the file (or give --media-id).
    #[arg(long)]
    link: Option<String>,
    /// A caption (not for audio or stickers).
    #[arg(long)]
    caption: Option<String>,
    /// A document's file name.
    #[arg(long)]
    filename: Option<String>,
    /// The ID of the message to reply to.
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn send_media(connector: &Connector, args: MediaArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let kind = match args.kind.as_str() {
        "image" => media::MediaKind::Image,
        "video" => media::MediaKind::Video,
        "audio" => media::MediaKind::Audio,
        "document" => media::MediaKind::Document,
        _ => media::MediaKind::Sticker,
    };
    let input = MediaInput {
        send_message_to: args.to,
        kind,
        media_id: args.media_id,
        link: args.link,
        caption: args.caption,
        filename: args.filename,
        reply_to: args.reply_to,
    };
    let output = answered(connector.send_media(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

/// `SECTION|ID|TITLE[|DESCRIPTION]`: a list row in its section.
fn row(raw: &str) -> Result<(String, interactive::ListRow), String> {
    let mut parts = raw.splitn(4, '|');
    let (Some(section), Some(id), Some(title)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "expected SECTION|ID|TITLE[|DESCRIPTION], got {raw:?}"
        ));
    };
    let row = interactive::ListRow {
        id: id.to_owned(),
        title: title.to_owned(),
        description: parts.next().map(str::to_owned),
    };
    Ok((section.to_owned(), row))
}

#[derive(Args)]
pub struct InteractiveArgs {
    /// Send message to: a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// The body text.
    #[arg(long)]
    body: String,
    /// A text header.
    #[arg(long)]
    header: Option<String>,
    /// A footer.
    #[arg(long)]
    footer: Option<String>,
    /// A reply button; repeatable, 1 to 3.
    #[arg(long, value_name = "ID=TITLE", value_parser = pair, group = "form")]
    button: Vec<(String, String)>,
    /// A list's button label; its rows come from --row.
    #[arg(long, value_name = "LABEL", group = "form", requires = "row")]
    list_button: Option<String>,
    /// A list row, in its section (an empty SECTION for a single untitled one); repeatable.
    #[arg(long, value_name = "SECTION|ID|TITLE[|DESCRIPTION]", value_parser = row)]
    row: Vec<(String, interactive::ListRow)>,
    /// A call-to-action URL button's label; with --cta-url.
    #[arg(long, value_name = "TEXT", group = "form", requires = "cta_url")]
    cta_text: Option<String>,
    /// A call-to-action URL button's https URL; with --cta-text.
    #[arg(long, value_name = "URL", requires = "cta_text")]
    cta_url: Option<String>,
    /// The ID of the message to reply to.
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn send_interactive(connector: &Connector, args: InteractiveArgs) -> Result<(), Failure> {
    use interactive::{CtaUrl, Form, ListSection, ReplyButton, RowList};
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let form = match (args.list_button, args.cta_text, args.cta_url) {
        (Some(button), ..) => {
            let mut sections: Vec<ListSection> = Vec::new();
            for (title, row) in args.row {
                let title = (!title.is_empty()).then_some(title);
                match sections.iter_mut().find(|s| s.title == title) {
                    Some(section) => section.rows.push(row),
                    None => sections.push(ListSection {
                        title,
                        rows: vec![row],
                    }),
                }
            }
            Form::RowList(RowList { button, sections })
        }
        (None, Some(display_text), Some(url)) => Form::CtaUrl(CtaUrl { display_text, url }),
        _ => Form::ReplyButtons(
            args.button
                .into_iter()
                .map(|(id, title)| ReplyButton { id, title })
                .collect(),
        ),
    };
    let input = InteractiveInput {
        send_message_to: args.to,
        form,
        header_text: args.header,
        body: args.body,
        footer: args.footer,
        reply_to: args.reply_to,
    };
    let output = answered(connector.send_interactive(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["flow_id", "flow_name"])))]
pub struct FlowArgs {
    /// Send message to: a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// The Flow's ID (digits).
    #[arg(long)]
    flow_id: Option<String>,
    /// The Flow's name, instead of its ID.
    #[arg(long)]
    flow_name: Option<String>,
    /// The button's text (flow_cta): at most 20 characters, no emoji.
    #[arg(long)]
    cta: String,
    /// flow_token: this send's identifier, returned with the answers.
    #[arg(long)]
    flow_token: Option<String>,
    /// Send the Flow's draft (for testing) rather than its published version.
    #[arg(long)]
    draft: bool,
    /// flow_action navigate: the first screen's ID.
    #[arg(long, conflicts_with = "data_exchange")]
    screen: Option<String>,
    /// The first screen's data, a JSON object; with --screen.
    #[arg(long, value_name = "JSON", requires = "screen")]
    data: Option<String>,
    /// flow_action data_exchange: the Flow's endpoint gives the first screen.
    #[arg(long)]
    data_exchange: bool,
    /// The body text.
    #[arg(long)]
    body: String,
    /// A text header.
    #[arg(long)]
    header: Option<String>,
    /// A footer.
    #[arg(long)]
    footer: Option<String>,
    /// The ID of the message to reply to.
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn send_flow(connector: &Connector, args: FlowArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let which = match (args.flow_id, args.flow_name) {
        (Some(id), _) => flow::FlowRef::Id(id),
        (None, name) => flow::FlowRef::Name(name.unwrap_or_default()),
    };
    let flow_action = match (args.screen, args.data_exchange) {
        (Some(screen), _) => Some(flow::FlowAction::Navigate(flow::Navigate {
            screen,
            data: args.data,
        })),
        (None, true) => Some(flow::FlowAction::DataExchange),
        (None, false) => None,
    };
    let input = FlowInput {
        send_message_to: args.to,
        flow: which,
        flow_cta: args.cta,
        flow_token: args.flow_token,
        mode: args.draft.then_some(flow::FlowMode::Draft),
        flow_action,
        header_text: args.header,
        body: args.body,
        footer: args.footer,
        reply_to: args.reply_to,
    };
    let output = answered(connector.send_flow(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

#[derive(Args)]
pub struct ReactionArgs {
    /// Send message to: the message's author, a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// The message to react to.
    #[arg(long)]
    message_id: String,
    /// One emoji; empty removes the reaction.
    #[arg(long, allow_hyphen_values = true)]
    emoji: String,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn send_reaction(connector: &Connector, args: ReactionArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = ReactionInput {
        send_message_to: args.to,
        message_id: args.message_id,
        emoji: args.emoji,
    };
    let output = answered(connector.send_reaction(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

#[derive(Args)]
pub struct LocationArgs {
    /// Send message to: a +number or a business-scoped user ID.
    #[arg(long)]
    to: String,
    /// Degrees, -90 to 90.
    #[arg(long, allow_hyphen_values = true)]
    latitude: f64,
    /// Degrees, -180 to 180.
    #[arg(long, allow_hyphen_values = true)]
    longitude: f64,
    /// The place's name.
    #[arg(long)]
    name: Option<String>,
    /// The place's address.
    #[arg(long)]
    address: Option<String>,
    /// The ID of the message to reply to.
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn send_location(connector: &Connector, args: LocationArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = LocationInput {
        send_message_to: args.to,
        latitude: args.latitude,
        longitude: args.longitude,
        name: args.name,
        address: args.address,
        reply_to: args.reply_to,
    };
    let output = answered(connector.send_location(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

#[derive(Args)]
pub struct ReadArgs {
    /// The incoming message to mark as read.
    #[arg(long)]
    message_id: String,
    /// Also show "typing…" for up to 25 s or until the reply.
    #[arg(long)]
    typing_indicator: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn mark_as_read(connector: &Connector, args: ReadArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = ReadInput {
        message_id: args.message_id,
        typing_indicator: args.typing_indicator.then_some(true),
    };
    answered(connector.mark_as_read(&connection, &input).await)?;
    print_json(&json!({"success": true}))
}

#[derive(Args)]
pub struct DownloadArgs {
    /// The media ID, e.g. a message's image.id from the trigger.
    #[arg(long)]
    media_id: String,
    /// Where to write the file: a new path, or an existing regular file with
    /// --overwrite (never a directory, device, FIFO or symbolic link). It is written to a
    /// temporary file next to it (mode 0600) and renamed only once its SHA-256 and size
    /// matched; on any error, or SIGINT/SIGTERM, nothing is left.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Replace --out when it is an existing regular file.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

/// A refusal of a local path before any request: `invalid-input`, exit 1.
fn refused_path(field: &str, path: &std::path::Path, reason: &str) -> Failure {
    Failure::Connector(json!({
        "kind": "invalid-input",
        "field": field,
        "reason": format!("{}: {reason}", path.display()),
    }))
}

/// Checks `--out` before anything is fetched: a new path in an existing directory, or a
/// regular file that may be replaced.
fn check_out(out: &std::path::Path, overwrite: bool) -> Result<(), Failure> {
    match std::fs::symlink_metadata(out) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refused_path(
            "out",
            out,
            "is a symbolic link; give the path it points to",
        )),
        Ok(meta) if !meta.is_file() => Err(refused_path(
            "out",
            out,
            "exists and is not a regular file (a directory, device or FIFO is never replaced)",
        )),
        Ok(_) if !overwrite => Err(refused_path(
            "out",
            out,
            "exists; pass --overwrite to replace it",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = match out.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => std::path::Path::new("."),
            };
            if parent.is_dir() {
                Ok(())
            } else {
                Err(refused_path("out", out, "its directory does not exist"))
            }
        }
        Err(e) => Err(refused_path("out", out, &e.to_string())),
    }
}

/// The file's bytes never sit whole in memory: the component copies them chunk by chunk
/// from the response to a temporary file, which becomes `--out` only on success.
pub async fn download_media(connector: &Connector, args: DownloadArgs) -> Result<(), Failure> {
    check_out(&args.out, args.overwrite)?;
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let directory = match args.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let temporary = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(&directory)
        .with_context(|| format!("cannot create a temporary file in {}", directory.display()))?;
    let file = tokio::fs::File::from_std(
        temporary
            .as_file()
            .try_clone()
            .map_err(anyhow::Error::from)?,
    );
    let input = DownloadInput {
        media_id: args.media_id,
    };
    // On an error or a stop signal, `temporary` is dropped here, and with it the partial
    // file.
    let download = tokio::select! {
        download = connector.download_media(&connection, &input, file) => download,
        () = super::stop_signal() => {
            drop(temporary);
            return Err(anyhow::anyhow!("stopped by a signal: nothing was kept").into());
        }
    };
    let output = answered_by(download, json::transfer_error)?;
    temporary
        .as_file()
        .sync_all()
        .map_err(anyhow::Error::from)?;
    // Checked again: it may have appeared since (and without --overwrite it is never
    // replaced, even then).
    check_out(&args.out, args.overwrite)?;
    let persisted = if args.overwrite {
        temporary.persist(&args.out)
    } else {
        temporary.persist_noclobber(&args.out)
    };
    persisted
        .map_err(|e| anyhow::Error::from(e.error))
        .with_context(|| format!("cannot rename the download to {}", args.out.display()))?;
    let mut printed = json::download_output(&output);
    printed["path"] = args.out.display().to_string().into();
    print_json(&printed)
}

#[derive(Args)]
pub struct UploadArgs {
    /// The file to upload; it is streamed, never read whole.
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
    /// Its MIME type (default: guessed from the extension), one Meta accepts, e.g.
    /// image/jpeg or application/pdf.
    #[arg(long, value_name = "TYPE")]
    mime: Option<String>,
    /// The name Meta shows (default: the file's name).
    #[arg(long)]
    filename: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub async fn upload_media(connector: &Connector, args: UploadArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    // A file that cannot be uploaded is the input's fault, whatever the reason: exit 1.
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| refused_path("file", &args.file, &e.to_string()))?;
    let meta = file.metadata().await.map_err(anyhow::Error::from)?;
    if !meta.is_file() {
        return Err(refused_path("file", &args.file, "is not a regular file"));
    }
    let file_size = meta.len();
    let mime_type = args.mime.unwrap_or_else(|| {
        mime_guess::from_path(&args.file)
            .first_or_octet_stream()
            .essence_str()
            .to_owned()
    });
    let filename = args.filename.unwrap_or_else(|| {
        args.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let input = UploadInput {
        mime_type,
        filename,
        file_size,
    };
    let output = answered_by(
        connector.upload_media(&connection, &input, file).await,
        json::transfer_error,
    )?;
    print_json(&json!({"id": output.id}))
}

#[derive(Args)]
pub struct CreateGroupArgs {
    /// The group's subject: 1 to 128 characters.
    #[arg(long)]
    subject: String,
    /// The group's description: at most 2048 characters.
    #[arg(long)]
    description: Option<String>,
    /// Joining by the invite link needs the business's approval (join requests).
    #[arg(long)]
    approval_required: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Action "Create Group": prints `{"request_id"}`; the group arrives by webhook.
pub async fn create_group(connector: &Connector, args: CreateGroupArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = GroupCreateInput {
        subject: args.subject,
        description: args.description,
        join_approval_mode: args
            .approval_required
            .then_some(groups::JoinApprovalMode::ApprovalRequired),
    };
    let created = answered(connector.create_group(&connection, &input).await)?;
    print_json(&json!({"request_id": created.request_id}))
}

#[derive(Args)]
pub struct GroupArgs {
    /// The group's ID (as the group_lifecycle_update webhook gave it).
    #[arg(long)]
    group_id: String,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Actions "Get Group Invite Link" and (`reset`) "Reset Group Invite Link": prints
/// `{"invite_link"}`.
pub async fn group_invite_link(
    connector: &Connector,
    args: GroupArgs,
    reset: bool,
) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = GroupInput {
        group_id: args.group_id,
    };
    let link = answered(
        connector
            .group_invite_link(&connection, &input, reset)
            .await,
    )?;
    print_json(&json!({"invite_link": link.invite_link}))
}

#[derive(Args)]
pub struct RemoveParticipantsArgs {
    /// The group's ID.
    #[arg(long)]
    group_id: String,
    /// A participant to remove: a +number or a WhatsApp ID; repeatable.
    #[arg(long = "participant", value_name = "USER", required = true)]
    participants: Vec<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Action "Remove Group Participants": prints `{"success": true}`; each removal's result
/// arrives by webhook.
pub async fn remove_group_participants(
    connector: &Connector,
    args: RemoveParticipantsArgs,
) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = GroupRemoveInput {
        group_id: args.group_id,
        participants: args.participants,
    };
    answered(
        connector
            .remove_group_participants(&connection, &input)
            .await,
    )?;
    print_json(&json!({"success": true}))
}

#[derive(Args)]
pub struct UsersArgs {
    /// A user: a +number or a WhatsApp ID; repeatable, at most 1000.
    #[arg(long = "user", value_name = "USER", required = true)]
    users: Vec<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Actions "Block Users" (`block`) and "Unblock Users": prints the per-user results,
/// `{"done": [...], "failed": [...]}`.
pub async fn block_users(
    connector: &Connector,
    args: UsersArgs,
    block: bool,
) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = UsersInput { users: args.users };
    let output = answered(connector.block_users(&connection, &input, block).await)?;
    print_json(&json::users_output(&output))
}

#[derive(Args)]
pub struct ListBlockedArgs {
    /// Users per page: 1 to 1000.
    #[arg(long)]
    limit: Option<u32>,
    /// The `after` cursor of the previous page.
    #[arg(long)]
    after: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Action "List Blocked Users": prints `{"wa_ids": [...], "after"?}`.
pub async fn list_blocked_users(
    connector: &Connector,
    args: ListBlockedArgs,
) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = BlockedListInput {
        limit: args.limit,
        after: args.after,
    };
    let page = answered(connector.list_blocked_users(&connection, &input).await)?;
    print_json(&json!({"wa_ids": page.wa_ids, "after": page.after}))
}
