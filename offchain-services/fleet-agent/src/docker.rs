//! The Docker Engine, through bollard: the node's containers, pulls by digest and restarts.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use bollard::{
    models::{ContainerCreateBody, ContainerInspectResponse},
    query_parameters::{
        CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
        RenameContainerOptions, StopContainerOptions,
    },
    Docker, API_DEFAULT_VERSION,
};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::{policy::repository_of, Error, Result};

/// The label naming a container's node.
pub const NODE_LABEL: &str = "sdv.node";
/// The label marking a container's role; the agent's own is `agent`.
pub const ROLE_LABEL: &str = "sdv.role";
/// Seconds a container is given to stop.
pub const STOP_TIMEOUT_SECS: i32 = 10;
/// Seconds a request to the Engine may take (a pull of a large image included).
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// A client of the Engine on a unix socket, negotiated down to the daemon's API version
/// (dockerd 20.10 speaks 1.41; bollard starts from 1.53).
///
/// # Errors
///
/// [`Error::Docker`] when there is no socket or the daemon does not answer.
pub async fn connect(socket: &Path) -> Result<Docker> {
    Ok(Docker::connect_with_unix(
        &socket.to_string_lossy(),
        REQUEST_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )?
    .negotiate_version()
    .await?)
}

/// A container of the node, as `/v1/status` and heartbeats show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerStatus {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    /// The registry digest of its image (`sha256:..`), when it came from a registry.
    pub digest: Option<String>,
    /// `running`, `exited`, ...
    pub state: String,
    /// Whether it is the agent itself.
    pub agent: bool,
}

/// The Engine on its socket, connected on first use and again after a failed attempt (the
/// agent starts and serves while Docker is down).
#[derive(Clone)]
pub struct Engine {
    socket: PathBuf,
    negotiated: Arc<Mutex<Option<Docker>>>,
}

/// A container stopped and renamed aside while its replacement starts.
struct Replaced {
    old_id: String,
    name: String,
    new_id: Option<String>,
}

impl Engine {
    /// The Engine listening on `socket`; nothing is connected yet.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            negotiated: Arc::new(Mutex::new(None)),
        }
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The client, negotiated with the daemon.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] when the daemon does not answer.
    pub async fn connected(&self) -> Result<Docker> {
        let mut negotiated = self.negotiated.lock().await;
        if let Some(docker) = negotiated.as_ref() {
            return Ok(docker.clone());
        }
        let docker = connect(&self.socket).await?;
        *negotiated = Some(docker.clone());
        Ok(docker)
    }

    /// Pings the daemon.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] when it does not answer.
    pub async fn ping(&self) -> Result<()> {
        self.connected().await?.ping().await?;
        Ok(())
    }

    /// The containers labelled `sdv.node=<node_id>` (running or not), inspected.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`].
    pub async fn node_containers(&self, node_id: &str) -> Result<Vec<ContainerInspectResponse>> {
        let docker = self.connected().await?;
        let filters =
            HashMap::from([("label".to_owned(), vec![format!("{NODE_LABEL}={node_id}")])]);
        let summaries = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        let mut out = Vec::new();
        for id in summaries.into_iter().filter_map(|s| s.id) {
            match docker.inspect_container(&id, None).await {
                Ok(container) => out.push(container),
                // Removed between the list and the inspection.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// The registry digests of the image a container runs, for `repository`
    /// (`host:port/name`).
    ///
    /// # Errors
    ///
    /// [`Error::Docker`].
    pub async fn running_digests(
        &self,
        container: &ContainerInspectResponse,
        repository: &str,
    ) -> Result<Vec<String>> {
        let Some(image_id) = container.image.as_deref() else {
            return Ok(Vec::new());
        };
        let image = match self.connected().await?.inspect_image(image_id).await {
            Ok(image) => image,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(image
            .repo_digests
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.split_once('@'))
            .filter(|(repo, _)| *repo == repository)
            .map(|(_, digest)| digest.to_owned())
            .collect())
    }

    /// The node's containers for `/v1/status`.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`].
    pub async fn status(
        &self,
        node_id: &str,
        self_id: Option<&str>,
    ) -> Result<Vec<ContainerStatus>> {
        let mut out = Vec::new();
        for container in self.node_containers(node_id).await? {
            let image = configured_image(&container).to_owned();
            let digest = self
                .running_digests(&container, repository_of(&image))
                .await?
                .into_iter()
                .next();
            out.push(ContainerStatus {
                id: container.id.clone().unwrap_or_default(),
                name: container_name(&container).to_owned(),
                agent: is_agent(&container, self_id),
                state: container
                    .state
                    .as_ref()
                    .and_then(|s| s.status)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                image,
                digest,
            });
        }
        Ok(out)
    }

    /// Pulls `reference` (`host:port/name@sha256:..`), unless the engine holds it already,
    /// and checks that the image's RepoDigests contain it.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] when the pull fails, [`Error::PulledDigest`] when the image does not
    /// carry the digest.
    pub async fn pull(&self, reference: &str) -> Result<()> {
        let docker = self.connected().await?;
        // Content-addressed: an image the engine already holds under this digest is the one
        // a pull would fetch (many agents sharing one engine pull each release once).
        if let Ok(image) = docker.inspect_image(reference).await {
            if image
                .repo_digests
                .unwrap_or_default()
                .iter()
                .any(|d| d == reference)
            {
                return Ok(());
            }
        }
        let mut progress = docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(reference.to_owned()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(step) = progress.next().await {
            let step = step?;
            if let Some(error) = step.error_detail.and_then(|d| d.message) {
                return Err(Error::Pull(error));
            }
        }
        let image = docker.inspect_image(reference).await?;
        let digests = image.repo_digests.unwrap_or_default();
        if !digests.iter().any(|d| d == reference) {
            return Err(Error::PulledDigest {
                expected: reference.to_owned(),
                found: digests,
            });
        }
        Ok(())
    }

    /// Replaces each container by one with the same configuration on `image`: stops it (10
    /// s), renames it aside, creates and starts the new one under its name, and removes the
    /// old ones once all started. When one fails, every new container is removed and the old
    /// ones are renamed back and started: the node runs what it ran. Returns the names.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] of the step that failed (after the old containers are back).
    pub async fn replace(
        &self,
        containers: &[ContainerInspectResponse],
        image: &str,
    ) -> Result<Vec<String>> {
        let docker = self.connected().await?;
        let mut done: Vec<Replaced> = Vec::new();
        for container in containers {
            let old_id = container.id.clone().unwrap_or_default();
            let name = container_name(container).to_owned();
            let mut replaced = Replaced {
                old_id,
                name,
                new_id: None,
            };
            let result = self
                .replace_one(&docker, container, &mut replaced, image)
                .await;
            done.push(replaced);
            if let Err(e) = result {
                tracing::warn!(error = %e, "restart failed; restoring the previous containers");
                for replaced in done.iter().rev() {
                    restore(&docker, replaced).await;
                }
                return Err(e);
            }
        }
        for replaced in &done {
            if let Err(e) = docker
                .remove_container(
                    &replaced.old_id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                tracing::warn!(container = %replaced.old_id, error = %e, "removing the replaced container");
            }
        }
        Ok(done.into_iter().map(|r| r.name).collect())
    }

    async fn replace_one(
        &self,
        docker: &Docker,
        container: &ContainerInspectResponse,
        replaced: &mut Replaced,
        image: &str,
    ) -> Result<()> {
        let started = std::time::Instant::now();
        docker
            .stop_container(
                &replaced.old_id,
                Some(StopContainerOptions {
                    t: Some(STOP_TIMEOUT_SECS),
                    ..Default::default()
                }),
            )
            .await?;
        docker
            .rename_container(
                &replaced.old_id,
                RenameContainerOptions {
                    name: aside_name(&replaced.name),
                },
            )
            .await?;
        let stopped = started.elapsed();
        let config = container.config.clone().unwrap_or_default();
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            env: config.env,
            cmd: config.cmd,
            labels: config.labels,
            user: config.user,
            working_dir: config.working_dir,
            exposed_ports: config.exposed_ports,
            stop_signal: config.stop_signal,
            tty: config.tty,
            open_stdin: config.open_stdin,
            host_config: container.host_config.clone(),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(replaced.name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await?;
        replaced.new_id = Some(created.id.clone());
        let made = started.elapsed();
        docker.start_container(&created.id, None).await?;
        tracing::debug!(
            container = %replaced.name,
            stop_ms = stopped.as_millis() as u64,
            create_ms = (made - stopped).as_millis() as u64,
            start_ms = (started.elapsed() - made).as_millis() as u64,
            "replaced"
        );
        Ok(())
    }
}

/// Puts a container back as it was: removes its replacement, renames it back, starts it.
async fn restore(docker: &Docker, replaced: &Replaced) {
    if let Some(new_id) = &replaced.new_id {
        let _ = docker
            .remove_container(
                new_id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }
    let _ = docker
        .rename_container(
            &replaced.old_id,
            RenameContainerOptions {
                name: replaced.name.clone(),
            },
        )
        .await;
    if let Err(e) = docker.start_container(&replaced.old_id, None).await {
        tracing::error!(container = %replaced.name, error = %e, "could not start the previous container again");
    }
}

fn aside_name(name: &str) -> String {
    format!("{name}-sdv-previous")
}

/// A container's name without Docker's leading `/`.
pub fn container_name(container: &ContainerInspectResponse) -> &str {
    container
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
}

/// The image reference a container was created from.
pub fn configured_image(container: &ContainerInspectResponse) -> &str {
    container
        .config
        .as_ref()
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// Whether a container is the agent: labelled `sdv.role=agent`, or its id is the agent's own.
pub fn is_agent(container: &ContainerInspectResponse, self_id: Option<&str>) -> bool {
    let labelled = container
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(ROLE_LABEL))
        .is_some_and(|role| role == "agent");
    let own = match (self_id, container.id.as_deref()) {
        (Some(own), Some(id)) => id.starts_with(own),
        _ => false,
    };
    labelled || own
}

/// The agent's own container id, when it runs in one: from `/proc/self/cgroup` (cgroup v1 and
/// v2 with the systemd driver), `/proc/self/mountinfo` (the container's `hostname` file) or a
/// hostname of 12 hex digits (Docker's default, without host networking).
pub fn own_container_id() -> Option<String> {
    let from_text = |text: &str| {
        text.split(|c: char| !c.is_ascii_hexdigit())
            .find(|word| word.len() == 64)
            .map(str::to_owned)
    };
    if let Some(id) = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| from_text(&t))
    {
        return Some(id);
    }
    // Only the mount of `/etc/hostname` counts: the host's own table lists the `shm` mounts
    // of every container, which are not the agent's.
    if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.get(4) == Some(&"/etc/hostname") {
                if let Some(id) = fields
                    .get(3)
                    .and_then(|root| root.split("/containers/").nth(1).and_then(&from_text))
                {
                    return Some(id);
                }
            }
        }
    }
    let hostname = std::fs::read_to_string("/etc/hostname").ok()?;
    let hostname = hostname.trim();
    (hostname.len() == 12 && hostname.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hostname.to_owned())
}
